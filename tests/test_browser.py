"""The dashboard in a real browser: headless Chromium driven over the DevTools protocol.

Each test opens the page served by a real statsd, acts as a person would
(a link, a click, a key, a phone-sized screen) and checks what the page then
shows against the server's own answers: a deep link restores what it names,
no result outlives a change of selection, a past job shows its request, a
phone never scrolls sideways, the hovered active tab stays legible, focus
survives the job list's refresh, and the console stays free of errors.

Skipped, saying why, where no Chromium is installed (Debian: ``apt-get
install chromium``; ``.ci/run`` installs it when it can).
"""

import json
import socket
import unittest
from typing import List
from urllib.parse import quote, urlencode

from browser import Browser, find_chromium
from inprocess import InProcessServer
from support import OBESITY, ServedTestCase

CHROMIUM = find_chromium()
FRUIT = "Percent of adults who report consuming fruit less than one time daily"
#: A generous bound for anything the page does after an action (the machine is shared).
WAIT = 20.0


def link(**view):
    return "/#" + urlencode(view)


def contrast(foreground, background):
    """WCAG contrast ratio of two ``rgb(r, g, b)`` colours."""
    def luminance(colour):
        channels = [int(part) / 255 for part in colour[colour.index("(") + 1:-1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


#: The text colour of an element and the background it is drawn on (the first opaque one up the tree).
COLOURS = """(element => {
  let node = element, background = "rgb(255, 255, 255)";
  while (node && node.nodeType === 1) {
    const paint = getComputedStyle(node).backgroundColor;
    if (paint !== "transparent" && !paint.startsWith("rgba(0, 0, 0, 0)")) { background = paint; break; }
    node = node.parentElement;
  }
  return [getComputedStyle(element).color, background];
})"""


_BROWSER: List[Browser] = []  # the one browser of the run, started on first use


def shared_browser():
    """The one Chromium of this module, launched on first use (a launch takes seconds)."""
    if not _BROWSER:
        _BROWSER.append(Browser(CHROMIUM))
    return _BROWSER[0]


def tearDownModule():
    while _BROWSER:
        _BROWSER.pop().close()  # asked to close, else ended by its PID


#: Pick a value in a select of the page by its id, as a person would (its change event).
SELECT = """(select => { select.value = %s; select.dispatchEvent(new Event("change")); })(
  document.getElementById(%s))"""

#: Pick a location in the select, as a person would (its change event).
CHOOSE_LOCATION = """(select => { select.value = %s; select.dispatchEvent(new Event("change")); })(
  document.getElementById("state"))"""


@unittest.skipIf(CHROMIUM is None, "no Chromium: install the Debian package 'chromium' "
                                   "(apt-get install -y chromium) to run the browser tests")
class BrowserTest(ServedTestCase):
    width, height, mobile = 1280, 900, False
    #: Tests that provoke failed loads (a stopped server) clear this.
    check_console = True

    @property
    def browser(self):
        return shared_browser()

    def setUp(self):
        self.browser.navigate("about:blank")
        self.browser.viewport(self.width, self.height, self.mobile)
        self.browser.console_errors()
        self.browser.events.clear()

    def tearDown(self):
        if self.check_console:
            self.assertEqual(self.browser.console_errors(), [], "console errors")

    # -- helpers -------------------------------------------------------------------

    def open(self, path="/", port=None):
        self.browser.navigate(f"http://127.0.0.1:{port or self.server.port}{path}")
        self.wait("document.querySelectorAll('#questions input').length > 0 && "
                  "document.getElementById('state').options.length > 0", "the questions")

    def wait(self, expression, what=""):
        return self.browser.wait_for(expression, WAIT, what)

    def js(self, expression):
        return self.browser.evaluate(expression)

    def wait_table(self, rows=None):
        condition = "!document.getElementById('result-wrap').hidden"
        if rows is not None:
            condition += f" && document.querySelectorAll('#result tbody tr').length === {rows}"
        self.wait(condition, "the result table")
        self.wait("document.getElementById('chart').complete && "
                  "!document.getElementById('chart').hidden || "
                  "document.getElementById('chart-note').textContent", "the chart")
        return self.table()

    def table(self):
        return self.js("""({columns: [...document.querySelectorAll('#result thead th')].map(th => th.textContent),
                           rows: [...document.querySelectorAll('#result tbody tr')].map(tr =>
                             [...tr.cells].map(td => td.title || td.textContent))})""")

    def shown(self):
        """What the page says it shows: selection, chart, card, hash."""
        return self.js("""({question: (document.querySelector('#questions input:checked') || {}).value || null,
          state: document.getElementById('state').value,
          chart: document.querySelector('#chart-tabs [aria-selected=true]').dataset.kind,
          chartURL: document.getElementById('chart-link').href,
          card: document.getElementById('job').textContent,
          notice: document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent,
          tableShown: !document.getElementById('result-wrap').hidden,
          hash: new URLSearchParams(location.hash.slice(1)).toString()})""")

    def choose_location(self, name):
        self.js(CHOOSE_LOCATION % json.dumps(name))

    def hash_of(self):
        return self.js("Object.fromEntries(new URLSearchParams(location.hash.slice(1)))")

    def assert_rows_match(self, rows, data, value_column=-1, key_column=0):
        self.assertEqual([row[key_column] for row in rows], list(data))
        for row, value in zip(rows, data.values()):
            self.assertAlmostEqual(float(row[value_column]), value, delta=1e-9)

    def job_count(self):
        return len(self.client.get("/api/jobs")[1]["data"])


class DeepLinkTest(BrowserTest):
    def test_a_link_restores_the_question_location_chart_and_statistic_it_names(self):
        self.open(link(question=OBESITY, state="Ohio", chart="trend", run="best5"))
        rows = self.wait_table(5)["rows"]
        shown = self.shown()
        self.assertEqual(shown["question"], OBESITY)
        self.assertEqual(shown["state"], "Ohio")
        self.assertEqual(shown["chart"], "trend")
        self.assertIn("/api/charts/trend?", shown["chartURL"])
        self.assertIn("state=Ohio", shown["chartURL"])
        self.assertIn("best5", shown["card"])
        best = self.client.run("best5", {"question": OBESITY})
        self.assert_rows_match(rows, best, key_column=1)
        address = self.hash_of()
        self.assertEqual((address["chart"], address["run"], address["state"]), ("trend", "best5", "Ohio"))
        self.assertTrue(address["job"].startswith("job_id_"))
        alt = self.js("document.getElementById('chart').alt")
        self.assertIn("trend", alt)
        self.assertIn("National, Ohio", alt)

    def test_a_split_link_with_a_location_statistic_keeps_the_split_chart(self):
        self.open(link(question=OBESITY, state="Ohio", chart="split", split="Income",
                       run="state_mean"))
        rows = self.wait_table(1)["rows"]
        shown = self.shown()
        self.assertEqual(shown["chart"], "split")
        self.assertIn("/api/charts/split?", shown["chartURL"])
        self.assertIn("category=Income", shown["chartURL"])
        self.assertEqual(self.js("document.getElementById('split').value"), "Income")
        mean = self.client.run("state_mean", {"question": OBESITY, "state": "Ohio"})
        self.assert_rows_match(rows, mean)

    def test_editing_the_hash_restores_that_view(self):
        self.open(link(question=OBESITY, state="Ohio", chart="states"))
        self.wait("document.getElementById('state').value === 'Ohio'")
        self.js("location.hash = " + json.dumps(link(question=FRUIT, state="Missouri",
                                                      chart="categories")[1:]))
        self.wait("document.getElementById('state').value === 'Missouri'", "Missouri")
        shown = self.shown()
        self.assertEqual(shown["question"], FRUIT)
        self.assertEqual(shown["chart"], "categories")
        self.assertIn("state=Missouri", shown["chartURL"])
        self.assertFalse(shown["tableShown"])

    def test_a_link_naming_a_location_without_data_says_so_and_runs_nothing(self):
        before = self.job_count()
        self.open(link(question=FRUIT, state="Ohio", run="state_mean"))
        self.wait("!document.getElementById('notice').hidden", "the notice")
        shown = self.shown()
        self.assertIn("Ohio has no data", shown["notice"])
        self.assertEqual(shown["question"], FRUIT)
        self.assertEqual(shown["state"], "")
        self.assertFalse(shown["tableShown"])
        self.assertNotIn("job_id", shown["card"])
        self.assertEqual(self.job_count(), before, "no job was run for another location")
        self.assertTrue(self.js("document.querySelector('[data-statistic=state_mean]').disabled"))

    def test_a_link_with_filters_applies_them_or_says_it_cannot(self):
        before = self.job_count()
        self.open(link(question=OBESITY, state="Ohio", chart="states", run="best5",
                       year_from=2015, year_to=2018))
        paths = self.client.get("/api/openapi.json")[1]["paths"]
        if "/api/years" not in paths:  # a statsd without filters: said, and nothing run unfiltered
            self.wait("!document.getElementById('notice').hidden", "the notice")
            self.assertIn("takes no filters", self.shown()["notice"])
            self.assertIn("year_from", self.shown()["notice"])
            self.assertFalse(self.shown()["tableShown"])
            self.assertEqual(self.job_count(), before)
            self.assertTrue(self.js("document.getElementById('filters').hidden"))
            return
        rows = self.wait_table()["rows"]
        expected = self.client.run("best5", {"question": OBESITY, "year_from": 2015, "year_to": 2018})
        self.assert_rows_match(rows, expected, key_column=1)
        self.assertIn("year_from=2015", self.shown()["chartURL"])
        self.assertIn("year_to=2018", self.shown()["chartURL"])
        self.assertIn("2015", self.shown()["card"])
        self.assertEqual(self.js("document.getElementById('year_from').value"), "2015")

    def test_a_link_naming_an_unknown_question_says_so(self):
        self.open(link(question="Percent of unicorns", run="best5"))
        self.wait("!document.getElementById('notice').hidden", "the notice")
        shown = self.shown()
        self.assertIn("Percent of unicorns", shown["notice"])
        self.assertIsNone(shown["question"])
        self.assertFalse(shown["tableShown"])


class SelectionTest(BrowserTest):
    def test_a_new_question_or_location_leaves_no_result_of_the_old_one(self):
        self.open(link(question=OBESITY, state="Ohio", run="state_mean"))
        self.wait_table(1)
        self.js(f"document.querySelector('#questions input[value={json.dumps(FRUIT)}]').click()")
        self.wait(f"new URLSearchParams(location.hash.slice(1)).get('question') === {json.dumps(FRUIT)}",
                  "the new question in the address")
        shown = self.shown()
        self.assertFalse(shown["tableShown"])
        self.assertEqual(shown["question"], FRUIT)
        self.assertNotIn("job_id", shown["card"])
        self.assertNotIn(OBESITY, shown["card"])
        self.assertIn("Ohio has no data", shown["notice"])
        self.assertNotIn("run", self.hash_of())
        self.assertNotIn("job", self.hash_of())
        # The location, then: a result for Missouri, then Washington chosen.
        self.choose_location("Missouri")
        self.wait("new URLSearchParams(location.hash.slice(1)).get('state') === 'Missouri'")
        self.js("document.querySelector('[data-statistic=state_mean]').click()")
        rows = self.wait_table(1)["rows"]
        self.assertEqual(rows[0][0], "Missouri")
        self.choose_location("Washington")
        self.wait("new URLSearchParams(location.hash.slice(1)).get('state') === 'Washington'")
        self.assertFalse(self.shown()["tableShown"])
        shown = self.shown()
        self.assertNotIn("Missouri", shown["card"])
        self.assertIn("state=Washington", shown["chartURL"])
        self.assertEqual(self.hash_of().get("state"), "Washington")
        self.assertNotIn("job", self.hash_of())

    def test_a_filter_is_part_of_the_selection_the_address_the_job_and_the_chart(self):
        if "/api/years" not in self.client.get("/api/openapi.json")[1]["paths"]:
            self.skipTest("this server has no GET /api/years yet: the page offers no filters")
        self.open(link(question=OBESITY, state="Ohio", run="best5"))
        self.wait_table(5)
        self.wait("!document.getElementById('filters').hidden", "the filters")
        years = self.client.get("/api/years?question=" + quote(OBESITY))[1]["data"]
        self.assertEqual(self.js("[...document.getElementById('year_from').options].slice(1)"
                                 ".map(o => Number(o.value))"), years)
        self.js(SELECT % (json.dumps("2016"), json.dumps("year_from")))
        self.wait("new URLSearchParams(location.hash.slice(1)).get('year_from') === '2016'")
        self.assertFalse(self.shown()["tableShown"], "the unfiltered result is gone")
        self.assertIn("year_from=2016", self.shown()["chartURL"])
        self.js(SELECT % (json.dumps("Income"), json.dumps("category")))
        self.wait("new URLSearchParams(location.hash.slice(1)).get('category') === 'Income'")
        self.assertFalse(self.js("document.getElementById('stratification').disabled"))
        self.js("document.querySelector('[data-statistic=worst5]').click()")
        rows = self.wait_table()["rows"]
        expected = self.client.run("worst5", {"question": OBESITY, "year_from": 2016,
                                              "category": "Income"})
        self.assert_rows_match(rows, expected, key_column=1)
        card = self.shown()["card"]
        self.assertIn("worst5", card)
        self.assertIn("2016", card)
        self.assertIn("Income", card)
        self.assertIn("category=Income", self.shown()["chartURL"])

    def test_a_past_job_shows_its_statistic_question_location_table_and_chart(self):
        status, answer = self.client.post("state_mean_by_category", {"question": FRUIT,
                                                                     "state": "Missouri"})
        self.assertEqual(status, 200)
        job_id = answer["job_id"]
        data = self.client.wait_result(job_id)["data"]["Missouri"]
        self.open(link(question=OBESITY, state="Ohio", run="best5"))
        self.wait_table(5)
        self.wait(f"[...document.querySelectorAll('#jobs button')].some(b => b.textContent === '{job_id}')")
        self.js(f"[...document.querySelectorAll('#jobs button')].find(b => b.textContent === '{job_id}').click()")
        self.wait("document.getElementById('job').textContent.includes('state_mean_by_category') || "
                  "!document.getElementById('notice').hidden", "the job or a notice")
        self.assertEqual(self.shown()["notice"], "")
        rows = self.wait_table(len(data))
        shown = self.shown()
        self.assertIn(job_id, shown["card"])
        self.assertIn("state_mean_by_category", shown["card"])
        self.assertIn(FRUIT, shown["card"])
        self.assertEqual((shown["question"], shown["state"], shown["chart"]),
                         (FRUIT, "Missouri", "categories"))
        self.assertIn("state=Missouri", shown["chartURL"])
        self.assertEqual(rows["columns"][:2], ["category", "stratification"])
        self.assertEqual(len(rows["rows"]), len(data))
        self.assertEqual(self.hash_of()["job"], job_id)


class PhoneTest(BrowserTest):
    width, height, mobile = 390, 844, True

    def test_no_sideways_scroll_and_the_result_in_view_after_mean_by_category(self):
        self.open(link(question=OBESITY, state="Ohio"))
        self.js("document.querySelector('[data-statistic=mean_by_category]').click()")
        self.wait_table()
        self.assertLessEqual(self.js("document.documentElement.scrollWidth"), 390)
        self.assertLessEqual(self.js("document.body.scrollWidth"), 390)
        # The result was scrolled into view.
        top = self.js("document.getElementById('results').getBoundingClientRect().top")
        self.assertGreaterEqual(top, -1)
        self.assertLess(top, 844 / 2)
        # The table scrolls in its own box; the chart is shown at its drawn size
        # (no text under 11 px) in a box that scrolls sideways.
        wrap = self.js("(e => [e.clientWidth, e.scrollWidth])(document.getElementById('result-wrap'))")
        self.assertLessEqual(wrap[0], 390)
        self.assertEqual(self.js("document.getElementById('chart').getBoundingClientRect().width"), 800)
        box = self.js("document.getElementById('chart-box').getBoundingClientRect().right")
        self.assertLessEqual(box, 390)
        # The tagline takes at most two lines.
        height = self.js("document.querySelector('.tagline').getBoundingClientRect().height")
        line = self.js("parseFloat(getComputedStyle(document.querySelector('.tagline')).lineHeight)")
        self.assertLessEqual(height, 2 * line + 1)


class NarrowWindowTest(BrowserTest):
    width, height = 780, 900

    def test_between_phone_and_desktop_the_chart_keeps_its_size_and_the_page_its_width(self):
        self.open(link(question=OBESITY, state="Ohio", run="diff_from_mean"))
        rows = self.wait_table()["rows"]
        self.assert_rows_match(rows, self.client.run("diff_from_mean", {"question": OBESITY}))
        self.assertEqual(self.shown()["chart"], "diff", "diff_from_mean is drawn as differences")
        self.assertIn("/api/charts/diff?", self.shown()["chartURL"])
        self.assertLessEqual(self.js("document.documentElement.scrollWidth"), 780)
        self.assertEqual(self.js("document.getElementById('chart').getBoundingClientRect().width"), 800)
        self.assertLessEqual(self.js("document.getElementById('chart-box').getBoundingClientRect().right"), 780)
        # One column: the result comes right after the controls, before the jobs.
        tops = self.js("['.controls', '.results', '.jobs'].map(s => document.querySelector(s).getBoundingClientRect().top)")
        self.assertEqual(tops, sorted(tops))


class LegibilityTest(BrowserTest):
    def test_every_button_state_keeps_a_contrast_of_4_5(self):
        self.open(link(question=OBESITY, state="Ohio", chart="trend", run="best5"))
        self.wait_table(5)
        buttons = self.js("[...document.querySelectorAll('button:not(:disabled)')].length")
        self.assertGreater(buttons, 15)
        for index in range(buttons):
            element = f"[...document.querySelectorAll('button:not(:disabled)')][{index}]"
            name = self.js(f"{element}.textContent")
            self.js(f"{element}.scrollIntoView({{block: 'center'}})")
            box = self.js(f"(r => [r.x + r.width / 2, r.y + r.height / 2])({element}.getBoundingClientRect())")
            self.browser.mouse_move(0, 0)
            colours = self.js(f"{COLOURS}({element})")
            self.assertGreaterEqual(contrast(*colours), 4.5, f"{name}: {colours}")
            self.browser.mouse_move(*box)
            self.wait(f"{element}.matches(':hover')", f"hover on {name}")
            colours = self.js(f"{COLOURS}({element})")
            self.assertGreaterEqual(contrast(*colours), 4.5, f"{name} hovered: {colours}")
            self.js(f"{element}.focus()")
            colours = self.js(f"{COLOURS}({element})")
            self.assertGreaterEqual(contrast(*colours), 4.5, f"{name} hovered+focused: {colours}")
        # The case of the issue: the active chart tab under the pointer.
        tab = "document.querySelector('#chart-tabs [aria-selected=true]')"
        self.assertEqual(self.js(f"{tab}.dataset.kind"), "trend")
        box = self.js(f"(r => [r.x + r.width / 2, r.y + r.height / 2])({tab}.getBoundingClientRect())")
        self.browser.mouse_move(*box)
        self.wait(f"{tab}.matches(':hover')")
        self.assertGreaterEqual(contrast(*self.js(f"{COLOURS}({tab})")), 4.5)


class KeyboardTest(BrowserTest):
    def test_focus_survives_the_job_list_refresh(self):
        self.client.run("global_mean", {"question": OBESITY})
        self.open(link(question=OBESITY, state="Ohio"))
        self.wait("document.querySelectorAll('#jobs button').length > 0", "the job list")
        self.js("document.querySelector('#jobs button').focus()")
        focused = self.js("document.activeElement.textContent")
        self.assertTrue(focused.startswith("job_id_"))
        # A new job appears in the list and states change: the list is refreshed.
        status, answer = self.client.post("states_mean", {"question": OBESITY})
        self.client.wait_result(answer["job_id"])
        self.wait(f"document.querySelector('#jobs button').textContent === '{answer['job_id']}'",
                  "the new job in the list")
        self.assertEqual(self.js("document.activeElement.textContent"), focused)
        self.assertTrue(self.js("document.activeElement.closest('#jobs') !== null"))

    def test_tabs_follow_the_aria_pattern_and_headings_sort_from_the_keyboard(self):
        self.open(link(question=OBESITY, state="Ohio", chart="states", run="best5"))
        self.wait_table(5)
        tabs = self.js("[...document.querySelectorAll('#chart-tabs [role=tab]')].map(t => [t.dataset.kind, t.tabIndex])")
        self.assertEqual([index for kind, index in tabs if kind == "states"], [0])
        self.assertTrue(all(index == -1 for kind, index in tabs if kind != "states"))
        self.js("document.getElementById('tab-states').focus()")
        self.browser.press("ArrowRight")
        self.wait("document.activeElement.id === 'tab-diff'", "focus on the next tab")
        self.wait("location.hash.includes('chart=diff')", "the diff chart in the address")
        self.assertEqual(self.js("document.activeElement.getAttribute('aria-selected')"), "true")
        self.browser.press("End")
        self.wait("document.activeElement.id === 'tab-split'")
        self.browser.press("ArrowRight")  # wraps around
        self.wait("document.activeElement.id === 'tab-states'")
        self.assertEqual(self.js("document.getElementById('chart-panel').getAttribute('aria-labelledby')"),
                         "tab-states")
        # The tabs come before the job list in the Tab order: from the last tab, Tab
        # goes into the chart panel and then on, never back into the controls.
        order = self.js("[...document.querySelectorAll('button, select, input, a[href]')].map(e => e.id || e.textContent)")
        self.assertLess(order.index("tab-states"), order.index(self.js("document.querySelector('#jobs button').textContent")))
        # Headings are buttons: Enter sorts.
        self.js("document.querySelector('#result thead button').focus()")
        self.browser.press("Enter")
        self.wait("document.querySelector('#result thead th').getAttribute('aria-sort') === 'ascending'")
        self.assertEqual(self.js("document.activeElement.textContent"), "rank")
        self.browser.press("Enter")
        self.wait("document.querySelector('#result thead th').getAttribute('aria-sort') === 'descending'")
        rows = self.table()["rows"]
        self.assertEqual([row[0] for row in rows], ["5", "4", "3", "2", "1"])

    def test_job_status_is_announced_politely(self):
        self.open(link(question=OBESITY, state="Ohio"))
        self.assertEqual(self.js("document.getElementById('announce').getAttribute('aria-live')"), "polite")
        self.js("document.querySelector('[data-statistic=worst5]').click()")
        self.wait_table(5)
        self.wait("/job_id_[0-9]+ worst5: done/.test(document.getElementById('announce').textContent)",
                  "the announcement")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@unittest.skipIf(CHROMIUM is None, "no Chromium: install the Debian package 'chromium'")
class ServerStoppedTest(unittest.TestCase):
    """Its own server, stopped and started again on the same port."""

    def setUp(self):
        self.port = free_port()
        self.server = InProcessServer(options=("--port", str(self.port))).start()
        self.browser = shared_browser()
        self.browser.navigate("about:blank")
        self.browser.viewport(1280, 900)
        self.browser.events.clear()

    def tearDown(self):
        self.browser.navigate("about:blank")  # stops the page's polling
        self.server.stop()

    def test_a_stopped_server_is_said_and_the_page_recovers_when_it_is_back(self):
        browser = self.browser
        browser.navigate(f"http://127.0.0.1:{self.port}" + link(question=OBESITY, state="Ohio"))
        browser.wait_for("document.getElementById('queue-state').textContent.includes('queued')", WAIT)
        self.server.stop()
        browser.wait_for("!document.getElementById('connection').hidden", WAIT, "the banner")
        banner = browser.evaluate("document.getElementById('connection').textContent")
        self.assertIn("does not answer", banner)
        self.assertIn("make run", banner)
        browser.evaluate("document.querySelector('[data-statistic=best5]').click()")
        browser.wait_for("!document.getElementById('error').hidden", WAIT, "the error")
        error = browser.evaluate("document.getElementById('error').textContent")
        self.assertIn("best5 was not run", error)
        card = browser.evaluate("document.getElementById('job').textContent")
        self.assertNotIn("(no job)", card)
        self.assertNotIn("error", card)
        browser.evaluate(CHOOSE_LOCATION % json.dumps("Texas"))
        browser.wait_for("!document.getElementById('connection').hidden", WAIT)
        self.server = InProcessServer(options=("--port", str(self.port))).start()
        browser.wait_for("document.getElementById('connection').hidden", WAIT, "the recovery")
        browser.evaluate("document.querySelector('[data-statistic=best5]').click()")
        browser.wait_for("document.querySelectorAll('#result tbody tr').length === 5", WAIT)
        # Uncaught errors: none (failed loads while the server was away are expected).
        errors = [error for error in browser.console_errors() if "ERR_CONNECTION_REFUSED" not in error]
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
