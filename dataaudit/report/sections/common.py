"""The tail every report shares: warnings, bad records, files, settings, timings."""

from __future__ import annotations

import json

from ...records import Report
from ..doc import Bullets, Code, Lit, Para, Section, Table, plural
from ..jsondoc import jsonable


def tail(report: Report) -> list[Section]:
    out = []
    if report.warnings:
        out.append(Section("Warnings", [Bullets(list(report.warnings))], key="warnings"))
    br = report.bad_records
    if br.get("count"):
        rows = [[Lit(str(e["source"])), e.get("row"), e.get("line"), Lit(str(e["reason"]))]
                for e in br.get("examples", [])[:50]]
        s = Section("Bad records", [Para(f"{plural(br['count'], 'record')} could not be read and "
                                         f"{'was' if br['count'] == 1 else 'were'} skipped:"),
                                    Table(["source", "row", "line", "reason"], rows, numeric=(1, 2))],
                    key="bad_records")
        if br["count"] > 50:
            s.add(Para(f"... and {br['count'] - 50} more (all counted in report.json)."))
        out.append(s)
    if report.files:
        out.append(Section("Files", [Bullets([f"`{p}`: {name}" for name, p in report.files.items()])],
                           key="files"))
    out.append(Section("Settings", [Code(json.dumps(jsonable(report.config), indent=2), "json")], key="settings"))
    if report.phases:
        out.append(Section("Timings", [Table(["phase", "seconds"],
                                             [[p["name"], f"{p['seconds']:.2f}"] for p in report.phases],
                                             numeric=(1,))], key="timings"))
    return out
