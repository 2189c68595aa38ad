"""GET /api/jobs/<job_id>: one job's state and the request it was asked, over HTTP.

The dashboard shows a past job from this answer, so the request must be the
one the client sent, resolved (the state as the CSV names it, the filters
that were set); tests/test_jobs.py covers failures, unknown ids and restarts.
"""

from __future__ import annotations

import unittest

from support import OBESITY, ServedTestCase


class JobEndpointTest(ServedTestCase):
    def test_a_job_of_this_run_answers_its_state_and_request(self):
        status, answer = self.client.post("state_mean", {"question": OBESITY, "state": "ks",
                                                  "year_from": 2015, "category": "Total"})
        self.assertEqual(status, 200, answer)
        job_id = answer["job_id"]
        self.client.wait_result(job_id)
        status, answer = self.client.get(f"/api/jobs/{job_id}")
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer, {"status": "done", "data": {
            "job_id": job_id, "state": "done",
            "request": {"endpoint": "state_mean", "question": OBESITY, "state": "Kansas",
                        "year_from": 2015, "category": "Total"}}})

    def test_a_request_without_a_state_or_filters_is_the_original_body(self):
        status, answer = self.client.post("best5", {"question": OBESITY, "state": "Ohio"})
        job_id = answer["job_id"]
        self.client.wait_result(job_id)
        status, answer = self.client.get(f"/api/jobs/{job_id}")
        self.assertEqual(answer["data"]["request"], {"endpoint": "best5", "question": OBESITY})

    def test_unknown_parameters_are_refused_and_underscored_ones_ignored(self):
        status, answer = self.client.post("global_mean", {"question": OBESITY})
        job_id = answer["job_id"]
        self.client.wait_result(job_id)
        status, answer = self.client.get(f"/api/jobs/{job_id}?_=1700000000")
        self.assertEqual(status, 200)
        status, answer = self.client.get(f"/api/jobs/{job_id}?x=1")
        self.assertEqual(status, 400)
        self.assertIn("'x'", answer["reason"])


if __name__ == "__main__":
    unittest.main()
