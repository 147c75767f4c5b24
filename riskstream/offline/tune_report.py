"""The HTML report of ``riskstream tune``: tables per rule and tier, precision/recall curves, the backtest.

One self-contained file: the curves are matplotlib SVG inlined, so the report
opens anywhere and can be attached to a change request.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.changed{background:#fff6d5}.curves{display:flex;flex-wrap:wrap;gap:8px}.curves figure{margin:0}
pre{background:#f5f5f5;padding:1em;overflow:auto}"""


def _svg(fig) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")
    text = out.getvalue()
    return text[text.index("<svg"):]


def curve_svgs(tunings: list[Any]) -> dict[str, str]:
    """Per velocity rule: precision and recall against the threshold on the earlier part (SVG text)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    for tuning in tunings:
        curve = tuning.curve
        if not curve or len(curve["threshold"]) < 2:
            continue
        fig, ax = plt.subplots(figsize=(4.2, 2.8))
        ax.step(curve["threshold"], curve["precision"], where="post", label="precision")
        ax.step(curve["threshold"], curve["recall"], where="post", label="recall")
        for setting, style, name in ((tuning.current, ":", "current"), (tuning.proposed, "--", "proposed")):
            if setting.above is not None:
                ax.axvline(setting.above, linestyle=style, color="grey", label=f"{name} {setting.above:g}")
        ax.set_title(tuning.rule.id, fontsize=9)
        ax.set_xlabel("above (threshold)")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
        out[tuning.rule.id] = _svg(fig)
        plt.close(fig)
    return out


def _setting(s: Any) -> str:
    parts = [f"score {s.score:g}"] + ([s.outcome.label] if s.outcome is not None else []) + (
        [f"above {s.above:g}"] if s.above is not None else [])
    return ", ".join(parts)


def write_html(path: str | Path, summary: dict[str, Any], tunings: list[Any], diff_text: str) -> None:
    """Write the report of one tuning run to ``path``."""
    e = html.escape
    parts = [f"<!doctype html><meta charset=utf-8><title>riskstream tune</title><style>{_STYLE}</style>",
             "<h1>riskstream tune</h1>",
             f"<p>{summary['orders']:,} orders; tuned on the {summary['earlier']['orders']:,} before "
             f"{e(summary['split_at'])}, reported on the {summary['later']['orders']:,} after. Targets: blocked "
             f"precision {summary['targets']['block']:g}, review precision {summary['targets']['review']:g}.</p>"]
    parts.append("<h2>Outcome tiers</h2><table><tr><th>part / rules</th><th>blocked precision</th>"
                 "<th>blocked recall</th><th>flagged precision</th><th>flagged recall</th><th>benign held</th>"
                 "<th>review precision</th><th>hold precision</th><th>freeze precision</th></tr>")
    for part in ("earlier", "later"):
        for side in ("current", "proposed"):
            t = summary["tiers"][side][part]
            parts.append(f"<tr><td>{part} / {side}</td><td>{t['blocked']['precision']}</td><td>{t['blocked']['recall']}</td>"
                         f"<td>{t['flagged']['precision']}</td><td>{t['flagged']['recall']}</td>"
                         f"<td>{t['benign_held_share']:.3%}</td><td>{t['review']['precision']}</td>"
                         f"<td>{t['hold']['precision']}</td><td>{t['freeze']['precision']}</td></tr>")
    parts.append("</table>")
    backtest = summary.get("backtest")
    if backtest:
        parts.append("<h2>Backtest on the later part (the engine, proposal vs current rules)</h2><table>"
                     "<tr><th>rules</th><th>blocked precision</th><th>blocked recall</th><th>flagged precision</th>"
                     "<th>flagged recall</th><th>benign held</th></tr>")
        for side in ("current", "proposed"):
            t = backtest[side]
            parts.append(f"<tr><td>{side}</td><td>{t['blocked']['precision']}</td><td>{t['blocked']['recall']}</td>"
                         f"<td>{t['flagged']['precision']}</td><td>{t['flagged']['recall']}</td>"
                         f"<td>{t['benign_held_share']:.3%}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Rules</h2><table><tr><th>rule</th><th>current</th><th>proposed</th><th>why</th>"
                 "<th>hits (earlier)</th><th>precision (earlier)</th><th>recall (earlier)</th>"
                 "<th>adds blocked recall</th><th>adds flagged recall</th><th>precision (later, proposed)</th>"
                 "<th>recall (later, proposed)</th></tr>")
    for t in tunings:
        early, late = t.stats["earlier"]["current"], t.stats["later"]["proposed"]
        cls = " class=changed" if t.changed else ""
        parts.append(f"<tr{cls}><td>{e(t.rule.id)}</td><td>{e(_setting(t.current))}</td><td>{e(_setting(t.proposed))}</td>"
                     f"<td>{e(t.why)}</td><td>{early['hits']:,}</td><td>{early['precision']}</td><td>{early['recall']}</td>"
                     f"<td>{early['adds_blocked_recall']}</td><td>{early['adds_flagged_recall']}</td>"
                     f"<td>{late['precision']}</td><td>{late['recall']}</td></tr>")
    parts.append("</table>")
    svgs = curve_svgs(tunings)
    if svgs:
        parts.append("<h2>Precision and recall by threshold (earlier part)</h2><div class=curves>")
        parts.extend(f"<figure>{svg}</figure>" for svg in svgs.values())
        parts.append("</div>")
    parts.append(f"<h2>Diff against the input rules</h2><pre>{e(diff_text) or 'no change'}</pre>")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(parts), encoding="utf-8")
