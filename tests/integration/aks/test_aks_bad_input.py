# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input to the AKS modules, generated from their argument specs (spec_cases.py) plus the values of the right
type that are still wrong: refused with a message naming the option, and zero PUT/PATCH/POST/DELETE in the ARM
emulator's request log. Each base case writes when it is valid (present, rotated, a channel change), so a
missing check shows up as a write. A control case at the end makes one real write, so the log is shown to
record them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from secrets_scan import find_leaks
from spec_cases import Case, counts, failures, generated_cases, module_spec, run_cases, uncovered

RG, CLUSTER = "rg-linux", "aks-linux"
MODULES = ("aks_upgrade_channel", "aks_maintenance_window", "aks_node_image_upgrade", "aks_upgrade_info",
           "aks_certificates")
AUTH_ALLOWED = {
    "profile": "a profile name is looked up only with auth_source credential_file; any name is valid",
    "client_id": "with a wrong client id the token request fails: covered by the secret case (same refusal)",
    "tenant": "covered with the secret case: the token endpoint refuses both the same way",
    "subscription_id": "any id is a valid place to look; a wrong one is a 404 on the read, never a write",
    "authority_host": "covered with resource_manager_url: both must be https URLs, checked by the same code",
}
ALLOWED = {
    "aks_upgrade_channel": {**AUTH_ALLOWED},
    "aks_maintenance_window": {**AUTH_ALLOWED},
    "aks_node_image_upgrade": {**AUTH_ALLOWED},
    "aks_upgrade_info": {**AUTH_ALLOWED},
    "aks_certificates": {**AUTH_ALLOWED},
}


def bases(auth: dict[str, Any], tmp_path: Path) -> dict[str, dict[str, Any]]:
    cluster = {**auth, "resource_group": RG, "cluster_name": CLUSTER}
    return {
        "aks_upgrade_channel": {**cluster, "upgrade_channel": "rapid"},
        "aks_maintenance_window": {**cluster, "config_name": "aksManagedNodeOSUpgradeSchedule",
                                   "schedule": {"weekly": {"day_of_week": "Friday"}}, "duration_hours": 6,
                                   "start_time": "02:00", "utc_offset": "+01:00"},
        "aks_node_image_upgrade": {**cluster, "wait": False},
        "aks_upgrade_info": {**cluster},
        "aks_certificates": {**cluster, "state": "rotated", "force": True, "wait": False,
                             "kubeconfig_path": str(tmp_path / "kubeconfig")},
    }


SUB_BASES = {"aks_maintenance_window": {
    "schedule": {"weekly": {"day_of_week": "Friday"}},
    "schedule.weekly": {"day_of_week": "Friday"},
    "schedule.absolute_monthly": {"day_of_month": 15},
    "schedule.relative_monthly": {"day_of_week": "Friday", "week_index": "First"},
    "not_allowed_dates": {"start": "2026-12-24", "end": "2026-12-26"},
}}


def hand_cases(b: dict[str, dict[str, Any]], tmp_path: Path) -> list[Case]:
    cases = []

    def case(module: str, what: str, options: tuple[str, ...], change: dict[str, Any],
             expect: tuple[str, ...] = ()) -> None:
        args = {key: value for key, value in {**b[module], **change}.items() if value is not None}
        cases.append(Case(module, what, options, args, expect))

    for module in MODULES:
        case(module, "resource_group: a group that does not exist", ("resource_group",),
             {"resource_group": "rg-nowhere"}, ("rg-nowhere",))
        case(module, "cluster_name: a cluster that does not exist", ("cluster_name",),
             {"cluster_name": "aks-nowhere"}, ("aks-nowhere",))
        case(module, "secret: a secret the token endpoint refuses", ("secret",), {"secret": "not-the-secret"},
             ("secret",))
        case(module, "resource_manager_url: not https", ("resource_manager_url",),
             {"resource_manager_url": "http://127.0.0.1:9"}, ("resource_manager_url", "https"))
    window = "aks_maintenance_window"
    case(window, "duration_hours: 3 (AKS allows 4 to 24)", ("duration_hours",), {"duration_hours": 3},
         ("duration_hours", "4"))
    case(window, "duration_hours: 25", ("duration_hours",), {"duration_hours": 25}, ("duration_hours", "24"))
    case(window, "start_time: not HH:MM", ("start_time",), {"start_time": "25:00"}, ("start_time", "25:00"))
    case(window, "utc_offset: not +HH:MM", ("utc_offset",), {"utc_offset": "CET"}, ("utc_offset", "CET"))
    case(window, "start_date: not a date", ("start_date",), {"start_date": "tomorrow"}, ("start_date", "tomorrow"))
    case(window, "schedule.weekly.day_of_week: not a day", ("schedule.weekly.day_of_week",),
         {"schedule": {"weekly": {"day_of_week": "Funday"}}}, ("day_of_week", "Funday"))
    case(window, "schedule.relative_monthly.day_of_week: not a day", ("schedule.relative_monthly.day_of_week",),
         {"schedule": {"relative_monthly": {"day_of_week": "Funday", "week_index": "First"}}},
         ("day_of_week", "Funday"))
    case(window, "schedule.absolute_monthly.day_of_month: 32", ("schedule.absolute_monthly.day_of_month",),
         {"schedule": {"absolute_monthly": {"day_of_month": 32}}}, ("day_of_month", "32"))
    case(window, "not_allowed_dates.start: not a date", ("not_allowed_dates.start",),
         {"not_allowed_dates": [{"start": "soon", "end": "2026-12-26"}]}, ("start", "soon"))
    case(window, "not_allowed_dates.end: before start", ("not_allowed_dates.end",),
         {"not_allowed_dates": [{"start": "2026-12-26", "end": "2026-12-24"}]}, ("end",))
    case("aks_node_image_upgrade", "pools: a pool the cluster lacks", ("pools",), {"pools": ["nopool"]},
         ("nopool",))
    case("aks_certificates", "kubeconfig_path: below a file", ("kubeconfig_path",),
         {"kubeconfig_path": str(tmp_path / "a-file" / "kubeconfig")}, ("kubeconfig_path",))
    return cases


@pytest.fixture
def aks_cases(auth: dict[str, Any], tmp_path: Path, collections_root: Path) -> dict[str, Any]:
    (tmp_path / "a-file").write_text("")
    b = bases(auth, tmp_path)
    specs = {module: module_spec(collections_root, module) for module in MODULES}
    cases: list[Case] = []
    for module in MODULES:
        spec, kwargs = specs[module]
        cases += generated_cases(module, spec, kwargs, b[module], SUB_BASES.get(module))
    cases += hand_cases(b, tmp_path)
    return {"cases": cases, "specs": specs, "bases": b}


def test_every_aks_option_has_a_case(aks_cases: dict[str, Any]) -> None:
    missing = {}
    for module, (spec, _kwargs) in aks_cases["specs"].items():
        left = uncovered(spec, [c for c in aks_cases["cases"] if c.module == module], ALLOWED.get(module, {}))
        if left:
            missing[module] = sorted(left)
    assert not missing, f"AKS options without a bad-input case (add one, or a reason to ALLOWED): {missing}"


def test_aks_bad_input_is_refused_with_zero_writes(aks_cases: dict[str, Any], emulator: Any,
                                                   azure_env: dict[str, str], collections_root: Path,
                                                   tmp_path: Path, seeds: Any) -> None:
    cases: list[Case] = aks_cases["cases"]
    control = Case("aks_upgrade_channel", "control: a channel change", (), aks_cases["bases"]["aks_upgrade_channel"],
                   key="control")
    emulator.requests.clear()
    started = time.monotonic()
    results = run_cases(cases, collections_root, tmp_path, env=azure_env)
    seconds = time.monotonic() - started
    writes = emulator.writes()
    control_result = run_cases([control], collections_root, tmp_path, env=azure_env)["control"]
    print(f"\nAKS bad-input cases per module: {json.dumps(counts(cases))}; total {len(cases)} in {seconds:.1f} s")
    print(f"ARM writes (PUT/PATCH/POST/DELETE) during the cases: {len(writes)}")
    for write in writes:
        print(f"  WRITE {write['method']} {write['path']}")
    problems = failures(cases, results)
    print("\n".join(problems))
    leaks = find_leaks({"the client secret": seeds.CLIENT_SECRET},
                       {f"{case.module}: {case.what}": results[case.key] for case in cases})
    assert not leaks, "the client secret in the output of bad-input cases:\n" + "\n".join(leaks)
    assert not control_result.get("failed") and emulator.writes(), f"the control made no write: {control_result}"
    assert not problems, f"{len(problems)} of {len(cases)} cases were not refused clearly:\n" + "\n".join(problems)
    assert not writes, "ARM writes during bad-input cases:\n" + "\n".join(f"{w['method']} {w['path']}" for w in writes)
