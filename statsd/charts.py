"""Charts of the statistics, as SVG documents written by hand.

Why: the original service showed its numbers as charts; statsd draws them with
the standard library alone, as text, so that a browser shows them with no
script and no download.  Every chart is 800 px wide, has a title, axis labels
and units, and tells its series apart by shape, dash pattern, hatching and
text as well as by colour, so that it still reads when printed in grey.

Every bar, point and rule carries its number in ``data-*`` attributes (and in
a ``<title>`` tooltip): the tests read them back with ``xml.etree`` and check
them, and the drawn geometry, against the statistic the chart shows.

The kinds, in :data:`CHARTS`:

* ``states``: one question, every location's mean as sorted bars, the global
  mean as a rule, the best 5 and worst 5 marked as ``best5`` and ``worst5``
  rank them; with fewer than 10 locations those two sets would overlap, so
  every location is ranked instead (1 = best);
* ``diff``: ``diff_from_mean`` as bars either side of 0, the sign explained;
* ``trend``: one question, mean per ``YearStart`` for one or more locations,
  with the "National" line for reference; a line joins consecutive years
  only, and each point says how many rows it rests on;
* ``categories``: one question and location, the mean of each stratification
  grouped by category (as ``state_mean_by_category``);
* ``split``: one question, location and category, each group's mean beside
  the location's own mean.

No label may be crossed by a rule or sit on another label: value labels of
bar charts stand in a column of their own, right of the plot.
"""

from __future__ import annotations

import math
import textwrap
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr

from .ingest import Accumulator, Dataset, Group, LocationData
from .query import optional, parse_query, required
from .request import NO_FILTERS, Filters
from .selection import group_sums, place_sums, year_sums
from .stats import (LOWER_IS_BETTER, STATISTICS, BadRequest, check_filters, check_kept,
                    check_question, location_means, question_mean, resolve_location)

WIDTH = 800
SVG_TYPE = "image/svg+xml; charset=utf-8"
FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
NATIONAL = "National"
#: Most locations one trend chart draws (beside the National line).
MAX_TREND_LOCATIONS = 6

#: Okabe-Ito colours: distinct for colour-blind eyes, and of distinct lightness.
INK = "#1a1a1a"
GRID = "#d0d0d0"
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
VERMILLION = "#D55E00"
SKY = "#56B4E9"
PURPLE = "#CC79A7"
YELLOW = "#F0E442"
PALE = "#b8c7d6"
#: White outline behind text drawn over lines, so that the text stays readable.
HALO = {"stroke": "#ffffff", "stroke_width": 3, "paint_order": "stroke"}


class UnknownChart(LookupError):
    """No chart of that kind; ``str()`` names the kinds there are."""


class ChartRequest(NamedTuple):
    """The checked parameters of a chart: ``category`` is the split chart's,
    ``filters`` the rows kept, as the data endpoints' filters keep them."""

    question: str
    states: Tuple[str, ...]
    category: Optional[str]
    filters: Filters = NO_FILTERS


# -- drawing primitives ---------------------------------------------------


def _attributes(attributes: Dict[str, object]) -> str:
    """``name="value"`` pairs; ``class_`` is ``class``, ``data_value`` is ``data-value``."""
    parts = []
    for name, value in attributes.items():
        if value is None:
            continue
        name = name.rstrip("_").replace("_", "-")
        parts.append(f"{name}={quoteattr(str(value))}")
    return " ".join(parts)


class Canvas:
    """An SVG document built element by element, rendered once."""

    def __init__(self, height: float, title: str) -> None:
        self.height = height
        self.title = title
        self.defs: List[str] = []
        self.parts: List[str] = []

    def element(self, tag: str, text: Optional[str] = None, tooltip: Optional[str] = None,
                **attributes: object) -> None:
        inner = ""
        if tooltip is not None:
            inner += f"<title>{escape(tooltip)}</title>"
        if text is not None:
            inner += escape(text)
        head = f"<{tag} {_attributes(attributes)}".rstrip()
        self.parts.append(f"{head}>{inner}</{tag}>" if inner else f"{head}/>")

    def text(self, x: float, y: float, text: str, size: int = 13, anchor: str = "start",
             weight: Optional[str] = None, **attributes: object) -> None:
        self.element("text", text, x=_n(x), y=_n(y), font_size=size, text_anchor=anchor,
                     font_weight=weight, fill=attributes.pop("fill", INK), **attributes)

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = INK,
             width: float = 1, **attributes: object) -> None:
        self.element("line", x1=_n(x1), y1=_n(y1), x2=_n(x2), y2=_n(y2), stroke=stroke,
                     stroke_width=width, **attributes)

    def heading(self, title: str, subtitle: str) -> float:
        """Draw the title (wrapped) and a grey subtitle; return the y below them."""
        y = 28.0
        for line in textwrap.wrap(title, 74):
            self.text(WIDTH / 2, y, line, size=17, anchor="middle", weight="bold", class_="title")
            y += 22
        for line in textwrap.wrap(subtitle, 100):
            self.text(WIDTH / 2, y, line, size=13, anchor="middle", fill="#444444",
                      class_="subtitle")
            y += 17
        return y - 1

    def render(self) -> str:
        defs = f"<defs>{''.join(self.defs)}</defs>" if self.defs else ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{_n(self.height)}" '
            f'viewBox="0 0 {WIDTH} {_n(self.height)}" role="img" font-family={quoteattr(FONT)}>'
            f"<title>{escape(self.title)}</title>{defs}"
            f'<rect width="{WIDTH}" height="{_n(self.height)}" fill="#ffffff"/>'
            + "".join(self.parts) + "</svg>\n"
        )


def _n(number: float) -> str:
    """A coordinate with at most two decimals, without trailing zeros."""
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _value(number: float) -> str:
    return f"{number:.1f}"


#: Fills for series that sit side by side: each differs from its neighbours
#: in pattern or in lightness, not only in hue.
_PATTERNS = (
    ("solid-blue", BLUE, None),
    ("hatch-orange", ORANGE, "M0,8 L8,0"),
    ("dots-green", GREEN, "dots"),
    ("solid-yellow", YELLOW, None),
    ("cross-vermillion", VERMILLION, "M0,0 L8,8 M0,8 L8,0"),
    ("solid-sky", SKY, None),
    ("lines-purple", PURPLE, "M0,4 L8,4"),
    ("hatch-grey", "#888888", "M0,0 L8,8"),
)


def _define_fills(canvas: Canvas) -> List[str]:
    """Add the patterns to ``canvas``; return the fills, each paint or ``url(#pattern)``."""
    fills = []
    for name, colour, shape in _PATTERNS:
        if shape is None:
            fills.append(colour)
            continue
        if shape == "dots":
            mark = f'<circle cx="4" cy="4" r="1.8" fill="{INK}"/>'
        else:
            mark = f'<path d="{shape}" stroke="{INK}" stroke-width="1.4"/>'
        canvas.defs.append(
            f'<pattern id="{name}" width="8" height="8" patternUnits="userSpaceOnUse">'
            f'<rect width="8" height="8" fill="{colour}"/>{mark}</pattern>')
        fills.append(f"url(#{name})")
    return fills


def nice_ticks(low: float, high: float, count: int = 5) -> List[float]:
    """Round tick values covering ``low..high``: steps of 1, 2 or 5 times a power of ten."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * factor for factor in (1, 2, 2.5, 5, 10) if power * factor >= raw)
    first = math.floor(low / step) * step
    ticks = []
    tick = first
    while tick < high + step * 0.999:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


def _unit(question: str) -> str:
    return "%" if question.startswith("Percent") else ""


def _value_axis_label(question: str) -> str:
    unit = _unit(question)
    return "Mean Data_Value" + (" (% of adults)" if unit == "%" else "")


def _is_lower_better(question: str) -> bool:
    return question in LOWER_IS_BETTER


# -- horizontal bar charts: states, diff, categories, split -------------------

ROW = 17.0
#: Bars are drawn between PLOT_LEFT and PLOT_RIGHT; names stand left of them,
#: value labels in a column of their own right of PLOT_RIGHT, so that no rule,
#: grid line or bar ever runs through a label.
PLOT_LEFT = 180.0
PLOT_RIGHT = WIDTH - 160.0
LABELS_X = PLOT_RIGHT + 12.0
#: Stratification names are longer than location names ("Some college or technical school").
GROUP_LEFT = 250.0
BAND = "#f1f3f5"


def _horizontal_axis(canvas: Canvas, left: float, right: float, top: float, bottom: float,
                     ticks: Sequence[float], scale: Callable[[float], float], label: str) -> None:
    """Grid lines and tick labels above and below a horizontal-bar plot, and the axis label."""
    for tick in ticks:
        x = scale(tick)
        canvas.line(x, top, x, bottom, stroke=GRID)
        canvas.text(x, top - 6, f"{tick:g}", size=12, anchor="middle")
        canvas.text(x, bottom + 16, f"{tick:g}", size=12, anchor="middle")
    canvas.line(left, bottom, right, bottom)
    canvas.text((left + right) / 2, bottom + 36, label, size=13, anchor="middle",
                class_="axis-label")


def _bands(canvas: Canvas, top: float, count: int) -> None:
    """Every other row shaded across the whole width, so a label is read on its bar's row."""
    for index in range(1, count, 2):
        canvas.element("rect", x=4, y=_n(top + index * ROW), width=WIDTH - 8, height=_n(ROW),
                       fill=BAND, class_="band")


def _legend(canvas: Canvas, y: float, items: Sequence[Tuple[str, str, str]]) -> None:
    """One row of legend entries: ``(kind, paint, label)``, kind ``box`` or ``rule``."""
    x = PLOT_LEFT
    for kind, paint, label in items:
        if kind == "rule":
            canvas.line(x + 6, y - 12, x + 6, y + 3, stroke=INK, width=2, stroke_dasharray=paint)
        else:
            canvas.element("rect", x=_n(x), y=_n(y - 11), width=16, height=12, fill=paint,
                           stroke=INK, stroke_width=0.6)
        canvas.text(x + 22, y, label, size=13, class_="legend")
        x += 22 + 7.6 * len(label) + 24


def _kept(filters: Filters) -> str:
    """The filters as the end of a subtitle: which rows the chart rests on."""
    if filters == NO_FILTERS:
        return ""
    parts = []
    if filters.year_from is not None or filters.year_to is not None:
        parts.append(f"YearStart {filters.year_from if filters.year_from is not None else '...'}"
                     f" to {filters.year_to if filters.year_to is not None else '...'}")
    if filters.category is not None:
        parts.append(filters.category + (f" = {filters.stratification}"
                                         if filters.stratification is not None else ""))
    return ". Rows kept: " + ", ".join(parts) if parts else ""


def _by_category(groups: Dict[Group, Accumulator]) -> Dict[str, List[Tuple[str, float]]]:
    """``{category: [(stratification, mean), ...]}``, both sorted."""
    found: Dict[str, List[Tuple[str, float]]] = {}
    for (category, stratification), sums in sorted(groups.items()):
        found.setdefault(category, []).append((stratification, sums.mean))
    return found


def _rank_label(rank: int) -> str:
    return f"rank {rank}"


def _ranks(rows: Sequence[Tuple[str, float]]) -> Dict[str, int]:
    """Competition ranks, best first: 1 + the number of locations strictly better."""
    ranks: Dict[str, int] = {}
    for index, (location, mean) in enumerate(rows):
        if index and mean == rows[index - 1][1]:
            ranks[location] = ranks[rows[index - 1][0]]
        else:
            ranks[location] = index + 1
    return ranks


#: Fewer locations than this and best5 and worst5 overlap: the chart ranks them all.
RANK_ALL_BELOW = 10


def best_first(dataset: Dataset, question: str,
               filters: Filters = NO_FILTERS) -> List[Tuple[str, float]]:
    """Every location's mean, best first (ties by name), as best5 orders them."""
    ascending = location_means(dataset, question, filters)
    if _is_lower_better(question):
        return ascending
    return sorted(ascending, key=lambda pair: (-pair[1], pair[0]))


def draw_states(dataset: Dataset, request: ChartRequest) -> str:
    question, filters = request.question, request.filters
    rows = best_first(dataset, question, filters)
    overall = question_mean(dataset, question, filters)
    count = len(rows)
    ranked = count < RANK_ALL_BELOW
    marks: Dict[str, str] = {}
    if ranked:
        marks = {location: _rank_label(rank) for location, rank in _ranks(rows).items()}
    else:
        best = STATISTICS["best5"].function(dataset, question, filters)
        worst = STATISTICS["worst5"].function(dataset, question, filters)
        marks = {location: f"best {rank}" for rank, location in enumerate(best, 1)}
        marks.update({location: f"worst {rank}" for rank, location in enumerate(worst, 1)})

    order = "lowest" if _is_lower_better(question) else "highest"
    if ranked:
        subtitle = (f"Mean by location, best ({order}) first. Only {count} locations have data, "
                    f"so each is ranked, 1 = best, {count} = worst")
    else:
        subtitle = f"Mean by location, best ({order}) first; {count} locations"
    subtitle += _kept(filters)
    canvas = Canvas(0, f"{question}: mean of each of {count} locations, best first")
    top = canvas.heading(question, subtitle) + 44
    canvas.height = top + count * ROW + 60
    fills = {"best": BLUE, "worst": "url(#worst-hatch)", "": PALE, "rank": SKY}
    canvas.defs.append(
        '<pattern id="worst-hatch" width="7" height="7" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="7" height="7" fill="#f4c27a"/>'
        f'<line x1="0" y1="0" x2="0" y2="7" stroke="{INK}" stroke-width="2.2"/></pattern>')
    rule = ("rule", "5,3", f"global mean {_value(overall)}{_unit(question)}")
    if ranked:
        legend = [("box", fills["rank"], f"{count} locations, ranked"), rule]
    else:
        legend = [("box", fills["best"], "best 5"), ("box", fills["worst"], "worst 5"),
                  ("box", fills[""], "others"), rule]
    _legend(canvas, top - 32, legend)

    bottom = top + count * ROW
    ticks = nice_ticks(0.0, max(mean for _, mean in rows))
    span = ticks[-1]
    scale = lambda value: PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * value / span  # noqa: E731
    _bands(canvas, top, count)
    _horizontal_axis(canvas, PLOT_LEFT, PLOT_RIGHT, top, bottom, ticks, scale,
                     _value_axis_label(question))
    for index, (location, mean) in enumerate(rows):
        y = top + index * ROW
        mark = marks.get(location, "")
        kind = mark.split(" ")[0]
        canvas.text(PLOT_LEFT - 6, y + ROW * 0.72, location, size=12, anchor="end")
        canvas.element("rect", tooltip=f"{location}: {mean}" + (f" ({mark})" if mark else ""),
                       class_="bar", x=_n(PLOT_LEFT), y=_n(y + 2),
                       width=_n(scale(mean) - PLOT_LEFT), height=_n(ROW - 4), fill=fills[kind],
                       stroke=INK if kind else "none", stroke_width=0.6,
                       data_location=location, data_value=repr(mean), data_mark=mark)
        label = _value(mean) + (f"  {mark}" if mark else "")
        canvas.text(LABELS_X, y + ROW * 0.72, label, size=11, weight="bold" if mark else None,
                    class_="value-label")
    x = scale(overall)
    canvas.line(x, top - 2, x, bottom + 2, stroke=INK, width=2, stroke_dasharray="5,3",
                class_="global-mean", data_value=repr(overall))
    return canvas.render()


def draw_diff(dataset: Dataset, request: ChartRequest) -> str:
    """``diff_from_mean`` as a diverging bar chart around 0, in that statistic's order."""
    question, filters = request.question, request.filters
    differences = list(STATISTICS["diff_from_mean"].function(dataset, question, filters).items())
    overall = question_mean(dataset, question, filters)
    count = len(differences)
    lower = _is_lower_better(question)
    canvas = Canvas(0, f"{question}: global mean minus each location's mean")
    top = canvas.heading(
        question, f"Global mean ({_value(overall)}) minus each location's mean. Right of 0: "
                  f"the location is below the global mean ({'better' if lower else 'worse'} "
                  f"here, {'lower' if lower else 'higher'} is better); left: above it"
                  + _kept(filters)) + 44
    below, above = BLUE, "url(#above-hatch)"
    canvas.defs.append(
        '<pattern id="above-hatch" width="7" height="7" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="7" height="7" fill="#f4c27a"/>'
        f'<line x1="0" y1="0" x2="0" y2="7" stroke="{INK}" stroke-width="2.2"/></pattern>')
    _legend(canvas, top - 32, [("box", below, "below the global mean (> 0)"),
                               ("box", above, "above it (< 0)")])
    bottom = top + count * ROW
    canvas.height = bottom + 60
    reach = max([abs(value) for _, value in differences] + [0.1])
    ticks = nice_ticks(-reach, reach)
    low, high = ticks[0], ticks[-1]
    scale = lambda value: PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * (value - low) / (high - low)  # noqa: E731
    _bands(canvas, top, count)
    unit = " (percentage points)" if _unit(question) else ""
    _horizontal_axis(canvas, PLOT_LEFT, PLOT_RIGHT, top, bottom, ticks, scale,
                     f"Global mean minus location mean{unit}")
    zero = scale(0.0)
    for index, (location, value) in enumerate(differences):
        y = top + index * ROW
        start, end = sorted((zero, scale(value)))
        canvas.text(PLOT_LEFT - 6, y + ROW * 0.72, location, size=12, anchor="end")
        canvas.element("rect", tooltip=f"{location}: {value:+}", class_="bar", x=_n(start),
                       y=_n(y + 2), width=_n(end - start), height=_n(ROW - 4),
                       fill=below if value >= 0 else above, stroke=INK, stroke_width=0.6,
                       data_location=location, data_value=repr(value))
        canvas.text(LABELS_X, y + ROW * 0.72, f"{value:+.1f}", size=11, class_="value-label")
    canvas.line(zero, top - 2, zero, bottom + 2, stroke=INK, width=1.5, class_="zero",
                data_value="0")
    return canvas.render()


# -- the categories and split charts ------------------------------------------------


def _location(dataset: Dataset, request: ChartRequest) -> LocationData:
    return dataset.questions[request.question].locations[request.states[0]]


def draw_categories(dataset: Dataset, request: ChartRequest) -> str:
    question, state = request.question, request.states[0]
    place = _location(dataset, request)
    categories = _by_category(group_sums(dataset, place, request.filters))
    overall = place_sums(dataset, place, request.filters).mean

    canvas = Canvas(0, f"{question}: {state}, mean of each stratification by category")
    fills = _define_fills(canvas)
    top = canvas.heading(question, f"{state}: mean of each stratification, by category"
                                   + _kept(request.filters)) + 44
    _legend(canvas, top - 32, [("rule", "5,3", f"{state} mean {_value(overall)}"
                                               f"{_unit(question)} (all its rows)")])
    heading_row = 22.0
    means = [mean for members in categories.values() for _, mean in members]
    bottom = top + len(means) * ROW + len(categories) * heading_row
    canvas.height = bottom + 60
    left = GROUP_LEFT
    ticks = nice_ticks(0.0, max(means))
    span = ticks[-1]
    scale = lambda value: left + (PLOT_RIGHT - left) * value / span  # noqa: E731
    _horizontal_axis(canvas, left, PLOT_RIGHT, top, bottom, ticks, scale,
                     _value_axis_label(question))
    y = top
    for number, (category, members) in enumerate(categories.items()):
        fill = fills[number % len(fills)]
        canvas.element("rect", x=8, y=_n(y + 4), width=14, height=14, fill=fill,
                       stroke=INK, stroke_width=0.6)
        canvas.text(28, y + 16, category, size=13, weight="bold", class_="category")
        y += heading_row
        for stratification, mean in members:
            canvas.text(left - 6, y + ROW * 0.72, stratification, size=12, anchor="end")
            canvas.element("rect", tooltip=f"{category} / {stratification}: {mean}",
                           class_="bar", x=_n(left), y=_n(y + 2),
                           width=_n(scale(mean) - left), height=_n(ROW - 4), fill=fill,
                           stroke=INK, stroke_width=0.6, data_category=category,
                           data_stratification=stratification, data_value=repr(mean))
            canvas.text(LABELS_X, y + ROW * 0.72, _value(mean), size=11, class_="value-label")
            y += ROW
    x = scale(overall)
    canvas.line(x, top - 2, x, bottom + 2, stroke=INK, width=2, stroke_dasharray="5,3",
                class_="location-mean", data_value=repr(overall))
    return canvas.render()


def draw_split(dataset: Dataset, request: ChartRequest) -> str:
    """One category's groups, each mean beside the location's own mean (a rule)."""
    question, state, category = request.question, request.states[0], request.category
    place = _location(dataset, request)
    filters = request.filters
    members = _by_category(group_sums(dataset, place, filters))[category]
    overall = place_sums(dataset, place, filters).mean
    unit = _unit(question)

    canvas = Canvas(0, f"{question}: {state}, {category}, each group against {state}'s mean")
    fills = _define_fills(canvas)
    top = canvas.heading(question, f"{state}, {category}: the mean of each of its "
                                   f"{len(members)} group{'s' if len(members) != 1 else ''}, "
                                   f"and how far it is from {state}'s mean"
                                   + _kept(filters)) + 44
    _legend(canvas, top - 32, [("rule", "5,3", f"{state} mean {_value(overall)}{unit} "
                                               f"(all its rows); in brackets: group minus it")])
    row = 26.0
    bottom = top + len(members) * row
    canvas.height = bottom + 60
    ticks = nice_ticks(0.0, max([mean for _, mean in members] + [overall]))
    span = ticks[-1]
    scale = lambda value: GROUP_LEFT + (PLOT_RIGHT - GROUP_LEFT) * value / span  # noqa: E731
    _horizontal_axis(canvas, GROUP_LEFT, PLOT_RIGHT, top, bottom, ticks, scale,
                     _value_axis_label(question))
    for index, (stratification, mean) in enumerate(members):
        y = top + index * row
        difference = mean - overall
        canvas.text(GROUP_LEFT - 6, y + row * 0.65, stratification, size=12, anchor="end")
        canvas.element("rect", tooltip=f"{stratification}: {mean} ({difference:+.2f} vs {state})",
                       class_="bar", x=_n(GROUP_LEFT), y=_n(y + 3),
                       width=_n(scale(mean) - GROUP_LEFT), height=_n(row - 6),
                       fill=fills[index % len(fills)], stroke=INK, stroke_width=0.6,
                       data_stratification=stratification, data_value=repr(mean),
                       data_difference=repr(difference))
        canvas.text(LABELS_X, y + row * 0.65,
                    f"{_value(mean)}{unit} ({difference:+.1f})", size=12, class_="value-label")
    x = scale(overall)
    canvas.line(x, top - 2, x, bottom + 2, stroke=INK, width=2, stroke_dasharray="5,3",
                class_="location-mean", data_value=repr(overall))
    return canvas.render()


# -- the trend chart ------------------------------------------------------------

#: (marker shape, dash pattern, colour) per series; the first is National's.
_SERIES_STYLES = (
    ("square", "6,4", INK),
    ("circle", None, BLUE),
    ("triangle", None, VERMILLION),
    ("diamond", None, GREEN),
    ("cross", "2,3", PURPLE),
    ("circle-open", "8,3,2,3", ORANGE),
    ("square-open", "1,3", SKY),
)


def _marker(canvas: Canvas, shape: str, x: float, y: float, colour: str,
            kind: str = "point", **data: object) -> None:
    size = 5.0
    common = dict(stroke=INK, stroke_width=1, class_=kind, **data)
    if shape == "square":
        canvas.element("rect", x=_n(x - size), y=_n(y - size), width=_n(2 * size),
                       height=_n(2 * size), fill=colour, **common)
    elif shape == "square-open":
        canvas.element("rect", x=_n(x - size), y=_n(y - size), width=_n(2 * size),
                       height=_n(2 * size), fill="#ffffff", **{**common, "stroke": colour,
                                                               "stroke_width": 2})
    elif shape == "circle":
        canvas.element("circle", cx=_n(x), cy=_n(y), r=_n(size), fill=colour, **common)
    elif shape == "circle-open":
        canvas.element("circle", cx=_n(x), cy=_n(y), r=_n(size), fill="#ffffff",
                       **{**common, "stroke": colour, "stroke_width": 2})
    elif shape == "triangle":
        points = f"{_n(x)},{_n(y - size - 1)} {_n(x - size - 1)},{_n(y + size + 1)} " \
                 f"{_n(x + size + 1)},{_n(y + size + 1)}"
        canvas.element("polygon", points=points, fill=colour, **common)
    elif shape == "diamond":
        points = f"{_n(x)},{_n(y - size - 1)} {_n(x + size + 1)},{_n(y)} " \
                 f"{_n(x)},{_n(y + size + 1)} {_n(x - size - 1)},{_n(y)}"
        canvas.element("polygon", points=points, fill=colour, **common)
    else:  # cross
        path = f"M{_n(x - size)},{_n(y - size)} L{_n(x + size)},{_n(y + size)} " \
               f"M{_n(x - size)},{_n(y + size)} L{_n(x + size)},{_n(y - size)}"
        canvas.element("path", d=path, **{**common, "stroke": colour, "stroke_width": 3})


#: A point resting on fewer rows than this is ringed: it is a group or two, not a year.
FEW_ROWS = 3


def _short(name: str, length: int) -> str:
    return name if len(name) <= length else name[:length - 1] + "\u2026"


class TrendPoint(NamedTuple):
    year: int
    mean: float
    rows: int


TOTAL: Group = ("Total", "Total")


class TrendSeries(NamedTuple):
    location: str
    rows: str  # which rows: "Total", "all rows", or the filter's category
    points: List[TrendPoint]


def trend_series(dataset: Dataset, request: ChartRequest) -> List[TrendSeries]:
    """National first when it has data, then the states, each a mean per year.

    A series is the location's Total stratification where the data has it
    (the whole population, not a mix of age bands, incomes and races), else
    the mean of all its rows of the year; a category filter picks its rows.
    """
    locations = dataset.questions[request.question].locations
    names = [NATIONAL] if NATIONAL in locations else []
    names += [name for name in request.states if name != NATIONAL]
    filters = request.filters
    series = []
    total = filters._replace(category=TOTAL[0], stratification=TOTAL[1])
    for name in names:
        place = locations[name]
        if filters.category is not None:
            sums, rows = year_sums(dataset, place, filters), (
                f"{filters.category}: {filters.stratification}" if filters.stratification
                else filters.category)
        else:
            sums, rows = year_sums(dataset, place, total), "Total"
            if not any(year.count for year in sums.values()):
                sums, rows = year_sums(dataset, place, filters), "all rows"
        points = [TrendPoint(year, year_sums_.mean, year_sums_.count)
                  for year, year_sums_ in sorted(sums.items()) if year_sums_.count]
        if points:
            series.append(TrendSeries(name, rows, points))
    return series


def _runs(points: Sequence[TrendPoint]) -> List[List[TrendPoint]]:
    """The points split where a year is missing: a line never bridges a year without data."""
    runs: List[List[TrendPoint]] = []
    for point in points:
        if runs and point.year == runs[-1][-1].year + 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def draw_trend(dataset: Dataset, request: ChartRequest) -> str:
    question = request.question
    series = trend_series(dataset, request)
    points = [point for line in series for point in line.points]
    if not points:
        raise BadRequest("no YearStart values for these locations")
    years = sorted({point.year for point in points})
    means = [point.mean for point in points]

    shown = ", ".join(line.location for line in series)
    kinds = sorted({line.rows for line in series})
    if request.filters.category is not None:
        which = f"the rows of {kinds[0]}"
    elif kinds == ["Total"]:
        which = "the Total stratification (the whole population)"
    elif "Total" in kinds:
        which = ("the Total stratification where the data has it (the whole population), "
                 "else the mean of all rows of the year")
    else:
        which = "the mean of all rows of the year (no Total stratification in the data)"
    canvas = Canvas(0, f"{question}: mean per year for {shown}")
    top = canvas.heading(question, f"Mean per year (YearStart) of {shown}: {which}. "
                                   f"A line joins consecutive years only"
                                   + _kept(request.filters._replace(category=None,
                                                                    stratification=None)))
    legend_top = top + 4
    legend_rows = math.ceil(len(series) / 2)
    top = legend_top + legend_rows * 22 + 16
    left, right = 150.0, WIDTH - 30.0
    bottom = top + 340.0

    spread = max(means) - min(means)
    margin = 1.0 if spread == 0 else 0.0  # a single value sits mid-height
    ticks = nice_ticks(min(means) - margin, max(means) + margin)
    low, high = ticks[0], ticks[-1]
    y_of = lambda value: bottom - (bottom - top) * (value - low) / (high - low)  # noqa: E731
    first, last = years[0], years[-1]
    pad = 0.5
    step = (right - left) / (last - first + 2 * pad)
    x_of = lambda year: left + step * (year - first + pad)  # noqa: E731
    # Series sit side by side within a year, so that no marker hides another.
    nudge = min(8.0, step / (len(series) + 1))

    def x_at(year: int, index: int) -> float:
        return x_of(year) + (index - (len(series) - 1) / 2) * nudge

    for tick in ticks:
        y = y_of(tick)
        canvas.line(left, y, right, y, stroke=GRID)
        canvas.text(left - 8, y + 4, f"{tick:g}", size=12, anchor="end")
    for year in range(first, last + 1):
        x = x_of(year)
        canvas.line(x, bottom, x, bottom + 5, class_="year-tick", data_year=year)
        canvas.text(x, bottom + 20, str(year), size=12, anchor="middle")
    canvas.line(left, top, left, bottom)
    canvas.line(left, bottom, right, bottom)
    canvas.text((left + right) / 2, bottom + 40, "Year (YearStart)", size=13, anchor="middle",
                class_="axis-label")
    middle = (top + bottom) / 2
    canvas.text(left - 60, middle, _value_axis_label(question), size=13, anchor="middle",
                transform=f"rotate(-90 {_n(left - 60)} {_n(middle)})", class_="axis-label")

    styles = []
    for index, (name, kind, values) in enumerate(series):
        style = _SERIES_STYLES[index if series[0].location == NATIONAL else index + 1]
        styles.append(style)
        shape, dash, colour = style
        column, row = index % 2, index // 2
        lx, ly = 40 + column * 370, legend_top + row * 22 + 8
        canvas.line(lx, ly, lx + 34, ly, stroke=colour, width=2.5, stroke_dasharray=dash)
        _marker(canvas, shape, lx + 17, ly, colour, kind="legend-marker")
        canvas.text(lx + 42, ly + 5, f"{name} ({_short(kind, 24)})", size=13, class_="legend",
                    data_location=name, data_rows_of=kind)
        for run in _runs(values):
            if len(run) > 1:
                path = " ".join(f"{_n(x_at(point.year, index))},{_n(y_of(point.mean))}"
                                for point in run)
                canvas.element("polyline", points=path, fill="none", stroke=colour,
                               stroke_width=2.5, stroke_dasharray=dash, class_="series",
                               data_location=name, data_rows_of=kind,
                               data_years=" ".join(str(point.year) for point in run))
        for point in values:
            plural = "s" if point.rows != 1 else ""
            if point.rows < FEW_ROWS:
                canvas.element("circle", cx=_n(x_at(point.year, index)), cy=_n(y_of(point.mean)),
                               r=10, fill="none", stroke=INK, stroke_width=1,
                               stroke_dasharray="2,2", class_="few-rows")
            _marker(canvas, shape, x_at(point.year, index), y_of(point.mean), colour,
                    tooltip=f"{name} {point.year}: {point.mean} (mean of {point.rows} row{plural}"
                            f", {kind})",
                    data_location=name, data_year=point.year, data_value=repr(point.mean),
                    data_rows=point.rows, data_rows_of=kind)

    # How many rows each point rests on, in the year's column: a point of one
    # row is one group of the population, not the location's year.
    y = bottom + 70
    canvas.text(8, y, "Rows behind each point", size=12, weight="bold", class_="rows-heading")
    for index, (name, _, values) in enumerate(series):
        y += 18
        shape, _, colour = styles[index]
        _marker(canvas, shape, 16, y - 4, colour, kind="legend-marker")
        canvas.text(28, y, _short(name, 17), size=12)
        for point in values:
            canvas.text(x_of(point.year), y, str(point.rows), size=12, anchor="middle",
                        weight="bold" if point.rows < FEW_ROWS else None, class_="row-count",
                        data_location=name, data_year=point.year)
    canvas.text(8, y + 22, f"Ringed, and bold here: fewer than {FEW_ROWS} rows, so one or two "
                           "groups (an age band, an income), not everyone", size=11,
                fill="#444444")
    canvas.height = y + 36
    return canvas.render()


# -- the registry and the request checks -----------------------------------------


class Chart(NamedTuple):
    """One chart kind: how to draw it and which query parameters it takes."""

    name: str
    draw: Callable[[Dataset, ChartRequest], str]
    states: str  # "none", "one" or "many"
    needs_category: bool
    summary: str


CHARTS: Dict[str, Chart] = {chart.name: chart for chart in (
    Chart("trend", draw_trend, "many", False,
          "mean per year of one or more locations (state, repeated), with the National line"),
    Chart("states", draw_states, "none", False,
          "every location's mean as sorted bars, global mean, best 5 and worst 5 marked "
          "(with fewer than 10 locations: every one ranked)"),
    Chart("diff", draw_diff, "none", False,
          "global mean minus each location's mean (diff_from_mean), as bars either side of 0"),
    Chart("categories", draw_categories, "one", False,
          "one location's mean of each stratification, grouped by category"),
    Chart("split", draw_split, "one", True,
          "one location's groups of one category, each mean beside the location's mean"),
)}


def chart_parameters(chart: Chart) -> List[str]:
    """The query parameters ``chart`` accepts, in the order a person would give them."""
    names = ["question"]
    if chart.states != "none":
        names.append("state")
    if chart.needs_category:  # the category it splits; it takes the years only
        return names + ["category", "year_from", "year_to"]
    return names + ["year_from", "year_to", "category", "stratification"]


def render(dataset: Dataset, kind: str, query: str) -> str:
    """The SVG of chart ``kind`` for the URL query string ``query``.

    Raises :class:`UnknownChart` for a kind that does not exist and
    :class:`~statsd.stats.BadRequest` for a missing, repeated, unknown or
    invalid parameter.
    """
    chart = CHARTS.get(kind)
    if chart is None:
        raise UnknownChart(f"no chart {kind!r}; charts: {', '.join(CHARTS)}")
    return chart.draw(dataset, check_chart_request(dataset, chart, query))


def check_chart_request(dataset: Dataset, chart: Chart, query: str) -> ChartRequest:
    """Parse and check the query string of a chart request."""
    params = parse_query(query, chart_parameters(chart),
                         repeatable=("state",) if chart.states == "many" else ())
    question = required(params, "question")
    check_question(dataset, question)
    filters = _chart_filters(dataset, chart, params)
    check_kept(dataset, question, filters)
    states = tuple(params.get("state", ()))
    if chart.states == "one":
        states = (required(params, "state"),)
    if len(states) > MAX_TREND_LOCATIONS:
        raise BadRequest(f"at most {MAX_TREND_LOCATIONS} states in one chart")
    # Any letter case or LocationAbbr, as the data endpoints take them; each location once.
    states = tuple(dict.fromkeys(resolve_location(dataset, question, state, filters)
                                 for state in states))
    if chart.states == "many" and not states and NATIONAL not in dataset.questions[question].locations:
        raise BadRequest("missing parameter 'state' (this question has no National data)")
    category = None
    if chart.needs_category:
        category = required(params, "category")
        place = dataset.questions[question].locations[states[0]]
        known = list(_by_category(group_sums(dataset, place, filters)))
        if category not in known:
            raise BadRequest(f"no category {category!r} for {states[0]!r} on this question; "
                             f"categories: {', '.join(known)}")
    return ChartRequest(question, states, category, filters)


def _chart_filters(dataset: Dataset, chart: Chart, params: Dict[str, List[str]]) -> Filters:
    """The filters of a chart's query: the data endpoints' body fields, as parameters."""
    body: Dict[str, object] = {}
    for name in ("year_from", "year_to"):
        text = optional(params, name)
        if text is not None:
            if not (text.strip().lstrip("-").isdigit() and text.isascii()):
                raise BadRequest(f"parameter {name!r} must be a whole number, not {text[:40]!r}")
            body[name] = int(text)
    if not chart.needs_category:
        body["category"] = optional(params, "category")
        body["stratification"] = optional(params, "stratification")
    try:
        return check_filters(dataset, body)
    except BadRequest as problem:  # named as a chart's client wrote it: a query parameter
        raise BadRequest(str(problem).replace("field '", "parameter '")) from None
