# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.k8s_names import check_keys, is_dns_label, key_problem
from ansible_collections.nodepatch.kube.plugins.module_utils.selectors import check_selector


@pytest.mark.parametrize("key", ["app", "kubernetes.io/os", "nodepatch.kube/was-unschedulable", "a_b.c-d",
                                 "weave.works/kured-node-lock", "x" * 63])
def test_keys_the_api_server_accepts_pass(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize("key", ["bad key!", "-bad-", "", "a/b/c", "/name", "Upper.Case/x", "x" * 64, "app_"])
def test_keys_the_api_server_refuses_are_named(key: str) -> None:
    assert key_problem(key)


def test_check_keys_names_the_option_and_the_rule() -> None:
    with pytest.raises(ValueError, match=r"^labels: 'bad key!' is not a valid key .*at most 63"):
        check_keys("labels", {"bad key!": "x"}, label_values=True)
    with pytest.raises(ValueError, match=r"^labels: the value 'not valid!' of app is not a valid label value"):
        check_keys("labels", {"app": "not valid!"}, label_values=True)
    check_keys("annotations", {"app": "any text at all, even spaces!"})
    check_keys("labels", {"app": None, "tier": ""}, label_values=True)  # None removes a label; empty is a value


def test_dns_labels() -> None:
    assert is_dns_label("kube-system") and not is_dns_label("Bad_NS") and not is_dns_label("a" * 64)


@pytest.mark.parametrize("selector", ["app=x", "app in (a,b),tier!=web", "!foo", "foo", "kubernetes.io/os=linux",
                                      "a==b", "x=", " app = x , b notin (c) ", None, ""])
def test_selectors_the_api_server_accepts_pass(selector: str | None) -> None:
    check_selector("pod_selector", selector)


@pytest.mark.parametrize("selector", ["app in (a", "tier notin", "app=(x", "bad key!=x", "a=b=c", ",", "app in a"])
def test_selectors_the_api_server_refuses_name_the_option(selector: str) -> None:
    with pytest.raises(ValueError, match=r"^pod_selector: .* is not a label selector"):
        check_selector("pod_selector", selector)
