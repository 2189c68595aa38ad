"""The nine statistics and check_request on a small CSV with answers worked out by hand.

Why: the conformance and oracle tests compare statsd with other programs on
the real sample; these pin down each rule of the contract on data small
enough to check with pencil and paper.  Every expected number below is a
literal with its arithmetic in a comment, never a call to the code under test.

The CSV (original header, other columns empty):

  obesity (lower is better), 7 locations with data:
    Alabama   30 32 36 30, one empty row  -> 128 / 4 = 32
    Alaska    20 (its only row)           -> 20
    Colorado  25 29                       -> 54 / 2 = 27
    Delaware  26 28                       -> 54 / 2 = 27  (tie with Colorado)
    Guam      38 44 44                    -> 126 / 3 = 42
    National  31                          -> 31
    Texas     35                          -> 35
    Ohio      two empty rows              -> absent
  aerobic 150 minutes (higher is better), 4 locations:
    District of Columbia 50 54 -> 52, Ohio 40, Virgin Islands 46, Wyoming 46
  fruit (lower is better): only empty rows, so no data at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from support import OBESITY, data_row, write_csv

from statsd.ingest import load_csv
from statsd.request import Filters, JobRequest
from statsd.stats import (LOWER_IS_BETTER, STATISTICS, BadRequest, best5, check_request, compute,
                          diff_from_mean, global_mean, group_means, location_means,
                          mean_by_category, question_mean, state_diff_from_mean, state_mean,
                          state_mean_by_category, states_mean, worst5, year_means)

AEROBIC = ("Percent of adults who achieve at least 150 minutes a week of moderate-intensity "
           "aerobic physical activity or 75 minutes a week of vigorous-intensity aerobic "
           "activity (or an equivalent combination)")
FRUIT = "Percent of adults who report consuming fruit less than one time daily"

AGE, EDUCATION, INCOME, GENDER = "Age (years)", "Education", "Income", "Gender"

ROWS = [
    # Alabama, written out of tuple order on purpose.
    data_row(OBESITY, "Alabama", "32", INCOME, "$25,000 - $34,999", "2013"),
    data_row(OBESITY, "Alabama", "30", EDUCATION, "Master's degree", "2012"),
    data_row(OBESITY, "Alabama", "", INCOME, "$15,000 - $24,999", "2012"),
    data_row(OBESITY, "Alabama", "36", EDUCATION, "College graduate", "2011"),
    data_row(OBESITY, "Alabama", "30", AGE, "18 - 24", "2011"),
    data_row(OBESITY, "Texas", "35"),
    data_row(OBESITY, "Guam", "38", AGE, "25 - 34", "2011"),
    data_row(OBESITY, "Guam", "44", AGE, "25 - 34", "2012"),
    data_row(OBESITY, "Guam", "44", GENDER, "Male", "2012"),
    data_row(OBESITY, "Delaware", "26", year="2011"),
    data_row(OBESITY, "Delaware", "28", year="2012"),
    data_row(OBESITY, "Colorado", "25", GENDER, "Female"),
    data_row(OBESITY, "Colorado", "29", GENDER, "Male"),
    data_row(OBESITY, "Ohio", ""),
    data_row(OBESITY, "Ohio", "", GENDER, "Male"),
    data_row(OBESITY, "National", "31"),
    data_row(OBESITY, "Alaska", "20"),
    data_row(AEROBIC, "Wyoming", "46"),
    data_row(AEROBIC, "District of Columbia", "50", GENDER, "Female"),
    data_row(AEROBIC, "Ohio", "40"),
    data_row(AEROBIC, "District of Columbia", "54", GENDER, "Male"),
    data_row(AEROBIC, "Virgin Islands", "46"),
    data_row(FRUIT, "Alabama", ""),
    data_row(FRUIT, "Ohio", ""),
]


class SmallDatasetCase(unittest.TestCase):
    """Tests over ``cls.dataset``, loaded from ROWS written to a temporary CSV."""

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="statsd-stats-")
        cls.dataset = load_csv(write_csv(os.path.join(cls.directory, "small.csv"), ROWS))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.directory, ignore_errors=True)

    def assertResult(self, actual, expected):
        """Same keys in the same order, numbers equal up to float rounding."""
        self.assertEqual(list(actual), list(expected))
        for key, value in expected.items():
            if isinstance(value, dict):
                self.assertResult(actual[key], value)
            else:
                self.assertAlmostEqual(actual[key], value, places=9, msg=key)


class StatisticsTest(SmallDatasetCase):

    def test_directions_of_the_questions_used(self):
        self.assertIn(OBESITY, LOWER_IS_BETTER)
        self.assertIn(FRUIT, LOWER_IS_BETTER)
        self.assertNotIn(AEROBIC, LOWER_IS_BETTER)

    # -- states_mean ------------------------------------------------------

    def test_states_mean_ascending_ties_by_name_empty_rows_skipped(self):
        # Ohio has only empty rows: absent.  Alabama's empty row is not a 0:
        # (32 + 30 + 36 + 30) / 4 = 32, not 128 / 5.  Colorado and Delaware
        # tie at 27 and keep name order.
        self.assertResult(states_mean(self.dataset, OBESITY), {
            "Alaska": 20.0, "Colorado": 27.0, "Delaware": 27.0, "National": 31.0,
            "Alabama": 32.0, "Texas": 35.0, "Guam": 42.0})

    def test_states_mean_fewer_locations(self):
        # DC (50 + 54) / 2 = 52; the Virgin Islands / Wyoming tie at 46 by name.
        self.assertResult(states_mean(self.dataset, AEROBIC), {
            "Ohio": 40.0, "Virgin Islands": 46.0, "Wyoming": 46.0, "District of Columbia": 52.0})

    # -- state_mean -------------------------------------------------------

    def test_state_mean(self):
        self.assertResult(state_mean(self.dataset, OBESITY, "Guam"), {"Guam": 42.0})  # 126 / 3
        self.assertResult(state_mean(self.dataset, OBESITY, "Alaska"), {"Alaska": 20.0})  # one row
        self.assertResult(state_mean(self.dataset, OBESITY, "Alabama"), {"Alabama": 32.0})  # 128 / 4
        self.assertResult(state_mean(self.dataset, AEROBIC, "District of Columbia"),
                          {"District of Columbia": 52.0})  # (50 + 54) / 2

    # -- best5 and worst5 -------------------------------------------------

    def test_best5_lower_is_better(self):
        # The 5 lowest, ascending; Colorado and Delaware (27) both make it.
        self.assertResult(best5(self.dataset, OBESITY), {
            "Alaska": 20.0, "Colorado": 27.0, "Delaware": 27.0, "National": 31.0, "Alabama": 32.0})

    def test_worst5_lower_is_better_tie_at_the_cut(self):
        # The 5 highest, descending: Guam 42, Texas 35, Alabama 32, National 31,
        # then one of the 27s: the tie goes by name, Colorado before Delaware.
        self.assertResult(worst5(self.dataset, OBESITY), {
            "Guam": 42.0, "Texas": 35.0, "Alabama": 32.0, "National": 31.0, "Colorado": 27.0})

    def test_best5_higher_is_better_fewer_than_five(self):
        # Only 4 locations: all of them, highest first, the 46s by name.
        self.assertResult(best5(self.dataset, AEROBIC), {
            "District of Columbia": 52.0, "Virgin Islands": 46.0, "Wyoming": 46.0, "Ohio": 40.0})

    def test_worst5_higher_is_better_fewer_than_five(self):
        # Worst is lowest for this question: ascending.
        self.assertResult(worst5(self.dataset, AEROBIC), {
            "Ohio": 40.0, "Virgin Islands": 46.0, "Wyoming": 46.0, "District of Columbia": 52.0})

    # -- global_mean and the differences -----------------------------------

    def test_global_mean_is_over_rows(self):
        # Rows: 128 (Alabama) + 20 + 54 + 54 + 126 + 31 + 35 = 448 over 4+1+2+2+3+1+1 = 14
        # rows -> 32.0.  The mean of the 7 location means would be 214 / 7 = 30.571...
        self.assertResult(global_mean(self.dataset, OBESITY), {"global_mean": 32.0})
        # (46 + 50 + 40 + 54 + 46) / 5 = 236 / 5 = 47.2; mean of means: 184 / 4 = 46.
        self.assertResult(global_mean(self.dataset, AEROBIC), {"global_mean": 47.2})

    def test_diff_from_mean_in_states_mean_order(self):
        # 32 - location mean, in the order of states_mean.
        self.assertResult(diff_from_mean(self.dataset, OBESITY), {
            "Alaska": 12.0,     # 32 - 20
            "Colorado": 5.0,    # 32 - 27
            "Delaware": 5.0,    # 32 - 27
            "National": 1.0,    # 32 - 31
            "Alabama": 0.0,     # 32 - 32
            "Texas": -3.0,      # 32 - 35
            "Guam": -10.0})     # 32 - 42
        # 47.2 - location mean.
        self.assertResult(diff_from_mean(self.dataset, AEROBIC), {
            "Ohio": 7.2, "Virgin Islands": 1.2, "Wyoming": 1.2, "District of Columbia": -4.8})

    def test_state_diff_from_mean(self):
        self.assertResult(state_diff_from_mean(self.dataset, OBESITY, "Guam"), {"Guam": -10.0})  # 32 - 42
        self.assertResult(state_diff_from_mean(self.dataset, OBESITY, "Alaska"), {"Alaska": 12.0})  # 32 - 20
        self.assertResult(state_diff_from_mean(self.dataset, AEROBIC, "Virgin Islands"),
                          {"Virgin Islands": 1.2})  # 47.2 - 46

    # -- by category --------------------------------------------------------

    def test_mean_by_category_keys_and_order(self):
        # Ordered by the tuple (not by its repr: "Master's degree" has a double-quoted
        # repr, which would sort before 'College graduate' as text).  Alabama's
        # "$15,000 - $24,999" group has only an empty row: absent.  Ohio: absent.
        self.assertResult(mean_by_category(self.dataset, OBESITY), {
            "('Alabama', 'Age (years)', '18 - 24')": 30.0,
            "('Alabama', 'Education', 'College graduate')": 36.0,
            "('Alabama', 'Education', \"Master's degree\")": 30.0,
            "('Alabama', 'Income', '$25,000 - $34,999')": 32.0,
            "('Alaska', 'Total', 'Total')": 20.0,
            "('Colorado', 'Gender', 'Female')": 25.0,
            "('Colorado', 'Gender', 'Male')": 29.0,
            "('Delaware', 'Total', 'Total')": 27.0,         # (26 + 28) / 2, two years
            "('Guam', 'Age (years)', '25 - 34')": 41.0,     # (38 + 44) / 2
            "('Guam', 'Gender', 'Male')": 44.0,
            "('National', 'Total', 'Total')": 31.0,
            "('Texas', 'Total', 'Total')": 35.0})

    def test_state_mean_by_category_keys_and_order(self):
        self.assertResult(state_mean_by_category(self.dataset, OBESITY, "Alabama"), {"Alabama": {
            "('Age (years)', '18 - 24')": 30.0,
            "('Education', 'College graduate')": 36.0,
            "('Education', \"Master's degree\")": 30.0,
            "('Income', '$25,000 - $34,999')": 32.0}})
        self.assertResult(state_mean_by_category(self.dataset, OBESITY, "Guam"), {"Guam": {
            "('Age (years)', '25 - 34')": 41.0,  # (38 + 44) / 2
            "('Gender', 'Male')": 44.0}})
        self.assertResult(state_mean_by_category(self.dataset, AEROBIC, "District of Columbia"),
                          {"District of Columbia": {"('Gender', 'Female')": 50.0,
                                                    "('Gender', 'Male')": 54.0}})

    # -- the registry -------------------------------------------------------

    def test_registry_has_the_nine_endpoints(self):
        self.assertEqual(list(STATISTICS), [
            "states_mean", "state_mean", "best5", "worst5", "global_mean", "diff_from_mean",
            "state_diff_from_mean", "mean_by_category", "state_mean_by_category"])
        self.assertEqual({name for name, s in STATISTICS.items() if s.needs_state},
                         {"state_mean", "state_diff_from_mean", "state_mean_by_category"})

    def test_compute_dispatches_by_name(self):
        self.assertResult(compute(self.dataset, JobRequest("state_mean", OBESITY, "Texas")),
                          {"Texas": 35.0})
        self.assertResult(compute(self.dataset, JobRequest("global_mean", AEROBIC)),
                          {"global_mean": 47.2})


class FilteredStatisticsTest(SmallDatasetCase):
    """The same statistics over the rows a Filters keeps (obesity rows by year and group):

      2011: Alabama 36 (Education, College graduate), 30 (Age 18 - 24); Texas 35;
            Guam 38 (Age 25 - 34); Delaware 26; Colorado 25 (Female), 29 (Male);
            National 31; Alaska 20
      2012: Alabama 30 (Education, Master's degree); Guam 44 (Age 25 - 34),
            44 (Gender, Male); Delaware 28
      2013: Alabama 32 (Income)
    """

    FROM_2012 = Filters(year_from=2012)
    TO_2011 = Filters(year_to=2011)
    GENDER_ONLY = Filters(category=GENDER)
    MALE = Filters(category=GENDER, stratification="Male")

    def test_states_mean_and_ranks_over_the_kept_years(self):
        # 2012 on: Alabama (30 + 32) / 2 = 31, Guam (44 + 44) / 2 = 44, Delaware 28; the rest absent.
        self.assertResult(states_mean(self.dataset, OBESITY, self.FROM_2012),
                          {"Delaware": 28.0, "Alabama": 31.0, "Guam": 44.0})
        self.assertResult(best5(self.dataset, OBESITY, self.FROM_2012),
                          {"Delaware": 28.0, "Alabama": 31.0, "Guam": 44.0})
        self.assertResult(worst5(self.dataset, OBESITY, self.FROM_2012),
                          {"Guam": 44.0, "Alabama": 31.0, "Delaware": 28.0})
        # Up to 2011: Alabama (36 + 30) / 2 = 33, Colorado (25 + 29) / 2 = 27.
        self.assertResult(states_mean(self.dataset, OBESITY, self.TO_2011), {
            "Alaska": 20.0, "Delaware": 26.0, "Colorado": 27.0, "National": 31.0,
            "Alabama": 33.0, "Texas": 35.0, "Guam": 38.0})

    def test_global_mean_and_differences_over_the_kept_rows(self):
        # (32 + 30 + 44 + 44 + 28) / 5 = 178 / 5 = 35.6
        self.assertResult(global_mean(self.dataset, OBESITY, self.FROM_2012), {"global_mean": 35.6})
        self.assertResult(diff_from_mean(self.dataset, OBESITY, self.FROM_2012), {
            "Delaware": 7.6, "Alabama": 4.6, "Guam": -8.4})  # 35.6 - 28, - 31, - 44
        # Up to 2011: 270 / 9 = 30; Alabama 30 - 33 = -3.
        self.assertResult(global_mean(self.dataset, OBESITY, self.TO_2011), {"global_mean": 30.0})
        self.assertResult(state_diff_from_mean(self.dataset, OBESITY, "Alabama", self.TO_2011),
                          {"Alabama": -3.0})
        self.assertResult(state_mean(self.dataset, OBESITY, "Alabama", Filters(2011, 2011)),
                          {"Alabama": 33.0})

    def test_category_and_group(self):
        # Gender: Guam 44 (Male), Colorado 25 and 29; global (44 + 25 + 29) / 3 = 98 / 3.
        self.assertResult(states_mean(self.dataset, OBESITY, self.GENDER_ONLY),
                          {"Colorado": 27.0, "Guam": 44.0})
        self.assertResult(global_mean(self.dataset, OBESITY, self.GENDER_ONLY),
                          {"global_mean": 98 / 3})
        # Male only: Colorado 29, Guam 44; global 73 / 2 = 36.5.
        self.assertResult(states_mean(self.dataset, OBESITY, self.MALE),
                          {"Colorado": 29.0, "Guam": 44.0})
        self.assertResult(diff_from_mean(self.dataset, OBESITY, self.MALE),
                          {"Colorado": 7.5, "Guam": -7.5})
        self.assertResult(state_mean_by_category(self.dataset, OBESITY, "Guam", self.MALE),
                          {"Guam": {"('Gender', 'Male')": 44.0}})

    def test_by_category_over_the_kept_years(self):
        self.assertResult(mean_by_category(self.dataset, OBESITY, self.FROM_2012), {
            "('Alabama', 'Education', \"Master's degree\")": 30.0,
            "('Alabama', 'Income', '$25,000 - $34,999')": 32.0,
            "('Delaware', 'Total', 'Total')": 28.0,
            "('Guam', 'Age (years)', '25 - 34')": 44.0,
            "('Guam', 'Gender', 'Male')": 44.0})
        self.assertResult(state_mean_by_category(self.dataset, OBESITY, "Guam", self.TO_2011),
                          {"Guam": {"('Age (years)', '25 - 34')": 38.0}})
        # Years and a group at once: Guam's 25 - 34 in 2012 only.
        self.assertResult(mean_by_category(self.dataset, OBESITY, Filters(
            2012, 2012, AGE, "25 - 34")), {"('Guam', 'Age (years)', '25 - 34')": 44.0})

    def test_chart_helpers(self):
        self.assertEqual(location_means(self.dataset, OBESITY, self.MALE),
                         [("Colorado", 29.0), ("Guam", 44.0)])
        self.assertEqual(question_mean(self.dataset, OBESITY, self.MALE), 36.5)
        self.assertEqual(group_means(self.dataset, OBESITY, "Guam", self.FROM_2012),
                         [((AGE, "25 - 34"), 44.0), ((GENDER, "Male"), 44.0)])
        # Guam by year: 2011 38; 2012 (44 + 44) / 2; the Age group only: 38, then 44.
        self.assertEqual(year_means(self.dataset, OBESITY, "Guam"), [(2011, 38.0), (2012, 44.0)])
        self.assertEqual(year_means(self.dataset, OBESITY, "Alabama", Filters(category=EDUCATION)),
                         [(2011, 36.0), (2012, 30.0)])
        self.assertEqual(year_means(self.dataset, OBESITY, "Alabama", Filters(year_from=2012)),
                         [(2012, 30.0), (2013, 32.0)])

    def test_compute_passes_the_filters(self):
        self.assertResult(compute(self.dataset, JobRequest("global_mean", OBESITY, None,
                                                           self.MALE)), {"global_mean": 36.5})
        self.assertResult(compute(self.dataset, JobRequest("state_mean", OBESITY, "Alabama",
                                                           self.FROM_2012)), {"Alabama": 31.0})


class CheckRequestTest(SmallDatasetCase):
    def check(self, name, body):
        return check_request(self.dataset, STATISTICS[name], body)

    def assertRefused(self, name, body, *words):
        with self.assertRaises(BadRequest) as caught:
            self.check(name, body)
        for word in words:
            self.assertIn(word, str(caught.exception))

    def test_valid_requests(self):
        self.assertEqual(self.check("states_mean", {"question": OBESITY}),
                         JobRequest("states_mean", OBESITY))
        # A state sent to an endpoint without one is ignored, as are other fields.
        self.assertEqual(self.check("best5", {"question": AEROBIC, "state": "Nowhere", "x": 1}),
                         JobRequest("best5", AEROBIC))
        self.assertEqual(self.check("state_mean", {"question": OBESITY, "state": "Guam"}),
                         JobRequest("state_mean", OBESITY, "Guam"))

    def test_body_not_an_object(self):
        for body in ([OBESITY], OBESITY, 3, None):
            with self.subTest(body=body):
                self.assertRefused("states_mean", body, "object")

    def test_question_missing_or_not_text(self):
        self.assertRefused("states_mean", {}, "missing", "question")
        self.assertRefused("states_mean", {"question": None}, "missing", "question")
        self.assertRefused("states_mean", {"question": 7}, "question", "string")
        self.assertRefused("states_mean", {"question": [OBESITY]}, "question", "string")

    def test_unknown_question(self):
        self.assertRefused("global_mean", {"question": "How tall?"}, "unknown question", "How tall?")
        # Questions are exact text: case matters.
        self.assertRefused("global_mean", {"question": OBESITY.upper()}, "unknown question")

    def test_question_whose_rows_are_all_empty(self):
        self.assertRefused("global_mean", {"question": FRUIT}, "no data", FRUIT)

    def test_state_missing_or_not_text(self):
        self.assertRefused("state_mean", {"question": OBESITY}, "missing", "state")
        self.assertRefused("state_mean", {"question": OBESITY, "state": 1}, "state", "string")

    def test_unknown_state(self):
        self.assertRefused("state_mean_by_category", {"question": OBESITY, "state": "Atlantis"},
                           "unknown state", "Atlantis")

    def test_state_without_data_for_the_question(self):
        # Ohio has only empty obesity rows, but data for the aerobic question.
        self.assertRefused("state_diff_from_mean", {"question": OBESITY, "state": "Ohio"},
                           "no data", "Ohio")
        self.assertEqual(self.check("state_mean", {"question": AEROBIC, "state": "Ohio"}),
                         JobRequest("state_mean", AEROBIC, "Ohio"))


    # -- filters and location names ----------------------------------------------

    def test_filters_are_parsed_into_the_request(self):
        body = {"question": OBESITY, "year_from": 2011, "year_to": 2012, "category": GENDER,
                "stratification": "Male"}
        request = self.check("best5", body)
        self.assertEqual(request, JobRequest("best5", OBESITY, None,
                                             Filters(2011, 2012, GENDER, "Male")))
        self.assertEqual(request.to_json(), dict(body, endpoint="best5"))
        # null means absent: the request of the original service, byte for byte in the journal.
        request = self.check("best5", {"question": OBESITY, "year_from": None, "year_to": None,
                                       "category": None, "stratification": None})
        self.assertEqual(request, JobRequest("best5", OBESITY))
        self.assertEqual(request.to_json(), {"endpoint": "best5", "question": OBESITY})
        # Either bound alone; equal bounds.
        self.assertEqual(self.check("global_mean", {"question": OBESITY, "year_to": 2011}).filters,
                         Filters(year_to=2011))
        self.assertEqual(self.check("global_mean", {"question": OBESITY, "year_from": 2012,
                                                    "year_to": 2012}).filters, Filters(2012, 2012))

    def test_bad_filters(self):
        cases = [
            ({"year_from": "2011"}, "field 'year_from'", "integer"),
            ({"year_to": True}, "field 'year_to'", "integer", "bool"),
            ({"year_from": 2011.5}, "field 'year_from'", "integer"),
            ({"year_from": 2013, "year_to": 2012}, "field 'year_from' (2013) is after field 'year_to' (2012)"),
            ({"category": ["Gender"]}, "field 'category'", "string"),
            ({"category": "Height"}, "field 'category'", "unknown category 'Height'"),
            ({"stratification": "Male"}, "field 'stratification' needs field 'category'"),
            ({"category": GENDER, "stratification": "Other"}, "field 'stratification'",
             "unknown stratification 'Other' of category 'Gender'"),
        ]
        for extra, *words in cases:
            with self.subTest(extra=extra):
                self.assertRefused("best5", dict(question=OBESITY, **extra), *words)
                self.assertRefused("state_mean", dict(question=OBESITY, state="Guam", **extra),
                                   *words)

    def test_filters_that_keep_nothing(self):
        # The aerobic question has no Income rows; Texas has no obesity row after 2011.
        self.assertRefused("states_mean", {"question": AEROBIC, "category": INCOME},
                           "no data for question", AEROBIC, "category='Income'")
        self.assertRefused("state_mean", {"question": OBESITY, "state": "Texas",
                                          "year_from": 2012},
                           "no data for state 'Texas'", "year_from=2012")
        self.assertRefused("global_mean", {"question": OBESITY, "year_from": 2014},
                           "no data for question")

    def test_state_in_any_letter_case(self):
        for name in ("guam", "GUAM", "gUaM"):
            with self.subTest(name=name):
                self.assertEqual(self.check("state_mean", {"question": OBESITY, "state": name}),
                                 JobRequest("state_mean", OBESITY, "Guam"))
        self.assertEqual(self.check("state_mean", {"question": AEROBIC,
                                                   "state": "district of columbia"}).state,
                         "District of Columbia")
        # Ohio in lower case is still a state without obesity data.
        self.assertRefused("state_mean", {"question": OBESITY, "state": "ohio"},
                           "no data for state 'Ohio'")


if __name__ == "__main__":
    unittest.main()
