"""report.html is safe to open from untrusted data: every string from a spec, a session.json (this
one or an earlier one in the trend) or a file name shows as text, in HTML and in SVG attributes."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import pytest
from hostile import PAYLOAD, Hostile, hostile_session

from siform.report import render_report, report_charts
from siform.report.text import plain


class Elements(HTMLParser):
    """Every element with its attributes, and all text (SVG text included, as a browser shows it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def elements(html: str) -> Elements:
    page = Elements()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def hostile() -> Hostile:
    return hostile_session()


def render(h: Hostile) -> str:
    return render_report(h.doc, h.result.t_ms, h.signals, h.thumbnails, h.history)


def test_hostile_strings_stay_text(hostile: Hostile) -> None:
    page = elements(render(hostile))
    tags = [tag for tag, _ in page.elements]
    assert "script" not in tags
    handlers = [(tag, k) for tag, attrs in page.elements for k in attrs if k.lower().startswith("on")]
    assert handlers == []
    # No injected element: the same elements as the same report with harmless strings.
    clean = [tag for tag, _ in elements(render(hostile_session(payload=""))).elements]
    assert Counter(tags) == Counter(clean)
    images = [attrs for tag, attrs in page.elements if tag == "img"]
    assert len(images) == len(hostile.thumbnails) >= 1
    assert all(a["src"].startswith("data:image/jpeg;base64,") for a in images)
    assert tags.count("svg") == 4  # driver, one chart per scored check, trend: none of them cut short

    # The hostile text is there for the reader to see, escaped and whole (read back by the parser):
    # identifiers pass through plain(), which spells "_" and "/" as words, so either form counts.
    text = "".join(page.text)
    shown = {name: value for name, value in hostile.fields.items() if name != "check id"}  # an attribute
    missing = [name for name, value in shown.items() if value not in text and plain(value) not in text]
    assert missing == []
    assert "{{7*7}}" in text and "49" not in text.split("{{7*7}}")[0][-5:]

    # Attributes keep the whole string as their value: it did not break out of its quotes.
    values = [v for _, attrs in page.elements for v in attrs.values()]
    assert hostile.fields["check id"] in values  # data-check
    assert any(v.startswith("How the reps were found: " + hostile.fields["counting label"]) for v in values)
    alts = [a["alt"] for tag, a in page.elements if tag == "img"]
    names = (hostile.fields["level check name"], hostile.fields["extension check name"])
    assert len(alts) == 2 and all(any(n in alt for n in names) for alt in alts)
    assert sum(PAYLOAD in v for v in values) >= 3
    # the limits the earlier session was judged under are marked, naming the (hostile) check
    assert f"judged under other limits: {hostile.fields['level check name']} (then" in text


def test_charts_passed_in_are_markup_only_when_drawn_by_report_charts(hostile: Hostile) -> None:
    drawn = report_charts(hostile.doc, hostile.result.t_ms, hostile.signals)
    with_drawn = render_report(hostile.doc, hostile.result.t_ms, hostile.signals, {}, [], drawn)
    assert elements(with_drawn).elements.count(("section", {"id": "plots"})) == 1
    # a plain string is not trusted as markup: it shows as text
    forged = render_report(hostile.doc, hostile.result.t_ms, hostile.signals, {}, [], "<script>x</script>")
    assert "script" not in [tag for tag, _ in elements(forged).elements]
    assert "<script>x</script>" in "".join(elements(forged).text)
