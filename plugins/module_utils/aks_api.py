# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AKS calls the modules make, on REST-shaped JSON, with one place that turns SDK errors into readable ones.

Reads return the JSON exactly as Azure sent it (not the SDK's model), so that a read-modify-write sends back
every field, including ones this SDK version does not know. Writes go through the SDK's operations, so
long-running operations are followed with its pollers (Azure-AsyncOperation / Location).
"""

from __future__ import annotations

import base64
import copy
import datetime
import time
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.aks import (
    ChannelPlan,
    Channels,
    WindowSpec,
    normalise_properties,
    plan_channels,
    pool_summary,
    window_channel_warning,
    window_to_options,
    windows_pool_names,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_certificates import (
    DOWNTIME_WARNING,
    CertificateFacts,
    decide_rotation,
    format_time,
    kubeconfig_secrets,
    lifetime_facts,
    merge_certificates,
    parse_kubeconfig,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import call_with_retries

try:
    from azure.core import MatchConditions
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceModifiedError,
        ServiceRequestError,
    )
except ImportError:  # pragma: no cover - AzureModule reports the missing library before any call
    MatchConditions = None
    ClientAuthenticationError = HttpResponseError = ResourceModifiedError = ServiceRequestError = Exception

T = t.TypeVar("T")

ROLE_HINT = ("the identity needs a role on the cluster such as 'Azure Kubernetes Service Contributor Role' "
             "(Microsoft.ContainerService/managedClusters/read and write)")


def _raw(pipeline_response: t.Any, _deserialized: t.Any, _headers: t.Any) -> t.Any:
    return pipeline_response.http_response.json()


def translate(error: BaseException, what: str, target: str) -> NodepatchError:
    """An SDK or identity exception as a NodepatchError that says what failed, on what, and what to do."""
    if isinstance(error, NodepatchError):
        return error
    if isinstance(error, ClientAuthenticationError) and getattr(error, "status_code", None) is None:
        text = str(getattr(error, "message", None) or error).strip().splitlines()[0]
        return NodepatchError(f"could not get an Azure token to {what}: {text}", target=target,
                              hint="check client_id, secret, tenant and authority_host (or the identity that "
                              "auth_source selects)")
    if isinstance(error, HttpResponseError):
        status = getattr(error, "status_code", None)
        inner = getattr(error, "error", None)
        code = getattr(inner, "code", None) or getattr(error, "reason", None) or ""
        message = getattr(inner, "message", None) or str(getattr(error, "message", error)).splitlines()[0]
        base = f"cannot {what}: HTTP {status} {code}: {message}".replace(": : ", ": ")
        hints = {401: "the token was refused; check tenant and that the identity belongs to the subscription's tenant",
                 403: ROLE_HINT,
                 404: "check resource_group, cluster_name and subscription_id",
                 409: "another operation is running on the cluster; retry when it has finished",
                 412: "the cluster changed while this task ran; run the task again",
                 429: "Azure throttled the requests; retry later"}
        return NodepatchError(base, target=target, hint=hints.get(status or 0),
                              details={"status_code": status, "error_code": code}, status=status)
    if isinstance(error, ServiceRequestError):
        return NodepatchError(f"cannot reach Azure to {what}: {error}", target=target,
                              hint="check resource_manager_url / authority_host and the network; for a private CA "
                              "set REQUESTS_CA_BUNDLE")
    return NodepatchError(f"cannot {what}: {type(error).__name__}: {error}", target=target)


class AksApi:
    """The calls against one subscription's ContainerService client, JSON in, JSON out."""

    def __init__(self, client: t.Any) -> None:
        self.client = client

    def _call(self, what: str, target: str, call: t.Callable[[], T]) -> T:
        try:
            return call()
        except Exception as error:  # pylint: disable=broad-exception-caught
            raise translate(error, what, target) from error

    # ---------------------------------------------------------------- reads

    def cluster(self, rg: str, name: str) -> dict[str, t.Any]:
        return self._call(f"read managed cluster {name}", cluster_target(rg, name),
                          lambda: self.client.managed_clusters.get(rg, name, cls=_raw))

    def cluster_upgrade_profile(self, rg: str, name: str) -> dict[str, t.Any]:
        return self._call(f"read the upgrade profile of managed cluster {name}", cluster_target(rg, name),
                          lambda: self.client.managed_clusters.get_upgrade_profile(rg, name, cls=_raw))

    def agent_pools(self, rg: str, name: str) -> list[dict[str, t.Any]]:
        return self._call(f"list the agent pools of managed cluster {name}", cluster_target(rg, name),
                          lambda: [pool.as_dict() for pool in self.client.agent_pools.list(rg, name)])

    def agent_pool(self, rg: str, name: str, pool: str) -> dict[str, t.Any]:
        return self._call(f"read agent pool {pool}", f"{cluster_target(rg, name)}/agentPools/{pool}",
                          lambda: self.client.agent_pools.get(rg, name, pool, cls=_raw))

    def agent_pool_upgrade_profile(self, rg: str, name: str, pool: str) -> dict[str, t.Any]:
        return self._call(f"read the upgrade profile of agent pool {pool}",
                          f"{cluster_target(rg, name)}/agentPools/{pool}",
                          lambda: self.client.agent_pools.get_upgrade_profile(rg, name, pool, cls=_raw))

    def maintenance_configurations(self, rg: str, name: str) -> list[dict[str, t.Any]]:
        return self._call(f"list the maintenance configurations of managed cluster {name}", cluster_target(rg, name),
                          lambda: [c.as_dict() for c in
                                   self.client.maintenance_configurations.list_by_managed_cluster(rg, name)])

    def maintenance_configuration(self, rg: str, name: str, config: str) -> dict[str, t.Any] | None:
        target = f"{cluster_target(rg, name)}/maintenanceConfigurations/{config}"

        def get() -> dict[str, t.Any] | None:
            try:
                return self.client.maintenance_configurations.get(rg, name, config, cls=_raw)
            except HttpResponseError as error:
                if getattr(error, "status_code", None) == 404:
                    self.cluster(rg, name)  # a missing cluster is an error, a missing configuration is not
                    return None
                raise

        return self._call(f"read maintenance configuration {config}", target, get)

    # ---------------------------------------------------------------- writes

    def put_cluster(self, rg: str, name: str, body: dict[str, t.Any], follow: bool = True) -> t.Any:
        """Starts the PUT (a long-running operation) guarded by the eTag that was read; returns the poller.

        ``follow=False`` sends the PUT and nothing else (no background polling)."""
        kwargs: dict[str, t.Any] = {} if follow else {"polling": False}
        if body.get("eTag"):
            kwargs.update(etag=body["eTag"], match_condition=MatchConditions.IfNotModified)
        return self._call(f"update managed cluster {name}", cluster_target(rg, name),
                          lambda: self.client.managed_clusters.begin_create_or_update(rg, name, body, **kwargs))

    def put_maintenance_configuration(self, rg: str, name: str, config: str,
                                      properties: dict[str, t.Any]) -> dict[str, t.Any]:
        return self._call(f"write maintenance configuration {config}",
                          f"{cluster_target(rg, name)}/maintenanceConfigurations/{config}",
                          lambda: self.client.maintenance_configurations.create_or_update(
                              rg, name, config, {"properties": properties}, cls=_raw))

    def delete_maintenance_configuration(self, rg: str, name: str, config: str) -> None:
        self._call(f"delete maintenance configuration {config}",
                   f"{cluster_target(rg, name)}/maintenanceConfigurations/{config}",
                   lambda: self.client.maintenance_configurations.delete(rg, name, config))

    def upgrade_node_image(self, rg: str, name: str, pool: str, follow: bool = True) -> t.Any:
        kwargs: dict[str, t.Any] = {} if follow else {"polling": False}
        return self._call(f"start the node image upgrade of agent pool {pool}",
                          f"{cluster_target(rg, name)}/agentPools/{pool}",
                          lambda: self.client.agent_pools.begin_upgrade_node_image_version(rg, name, pool, **kwargs))

    def wait(self, poller: t.Any, deadline: float, what: str, target: str) -> t.Any:
        """Follows a poller until it is done or the deadline passes (an error naming what still runs)."""
        remaining = max(0.0, deadline - time.monotonic())
        result = self._call(what, target, lambda: poller.result(timeout=remaining))
        if not poller.done():
            raise NodepatchError(f"{what} did not finish within the timeout (status {poller.status()})",
                                 target=target, hint="the operation continues in Azure; raise wait_timeout or "
                                 "check it later with nodepatch.kube.aks_upgrade_info")
        return result


def cluster_target(rg: str, name: str) -> str:
    return f"managedCluster {rg}/{name}"


# -------------------------------------------------------------------------------------------- workflows


def set_channels(api: AksApi, rg: str, name: str, upgrade_channel: str | None, node_os_upgrade_channel: str | None,
                 check_mode: bool, wait: bool, timeout: float) -> tuple[ChannelPlan, dict[str, t.Any]]:
    """Read the cluster, plan the channels, and (unless check mode) write back the body with only
    ``properties.autoUpgradeProfile`` changed. A 412 (someone else wrote in between, so the eTag no longer
    matches) re-reads and retries: 3 tries in all, with jittered pauses of up to 0.5 s and 1 s."""
    target = cluster_target(rg, name)
    deadline = time.monotonic() + timeout

    def attempt() -> tuple[ChannelPlan, dict[str, t.Any]]:
        cluster = api.cluster(rg, name)
        props = cluster.get("properties") or {}
        windows = windows_pool_names(props.get("agentPoolProfiles") or [])
        plan = plan_channels(Channels.from_rest(props.get("autoUpgradeProfile")), upgrade_channel,
                             node_os_upgrade_channel, windows, target)
        if not plan.changed or check_mode:
            return plan, {"provisioning_state": props.get("provisioningState")}
        body = copy.deepcopy(cluster)
        body["properties"]["autoUpgradeProfile"] = plan.after.apply_to(props.get("autoUpgradeProfile"))
        poller = api.put_cluster(rg, name, body, follow=wait)
        state: dict[str, t.Any] = {"provisioning_state": "Updating"}
        if wait:
            result = api.wait(poller, deadline, f"the update of managed cluster {name}", target)
            final = result.as_dict() if hasattr(result, "as_dict") else (result or {})
            state["provisioning_state"] = (final.get("properties") or {}).get("provisioningState")
        return plan, state

    def stale_etag(error: BaseException) -> bool:
        return isinstance(error.__cause__, ResourceModifiedError) or (
            isinstance(error, NodepatchError) and error.status == 412)

    return call_with_retries(attempt, stale_etag, attempts=3, base=0.5, cap=2.0)


def apply_window(api: AksApi, rg: str, name: str, config_name: str, state: str, spec: WindowSpec | None,
                 check_mode: bool) -> dict[str, t.Any]:
    """Make the configuration present as ``spec`` says, or absent; returns before/after and warnings."""
    cluster = api.cluster(rg, name)
    channels = Channels.from_rest((cluster.get("properties") or {}).get("autoUpgradeProfile"))
    current = api.maintenance_configuration(rg, name, config_name)
    current_props = (current or {}).get("properties")
    warnings: list[str] = []
    if state == "present":
        if spec is None:
            raise NodepatchError("state=present needs a window", target=f"maintenanceConfigurations/{config_name}")
        changed = not spec.matches(current_props)
        desired = spec.to_rest()
        if changed and not check_mode:
            written = api.put_maintenance_configuration(rg, name, config_name, desired)
            desired = written.get("properties") or desired
        elif not changed:
            desired = current_props or desired
        warning = window_channel_warning(config_name, channels)
        if warning:
            warnings.append(warning)
        after = window_to_options(config_name, desired)
    else:
        changed = current is not None
        if changed and not check_mode:
            api.delete_maintenance_configuration(rg, name, config_name)
        after = None
    return {"changed": changed, "before": window_to_options(config_name, current_props), "after": after,
            "properties": normalise_properties(desired) if state == "present" else None, "warnings": warnings,
            "channels": channels.as_dict()}


def gather_info(api: AksApi, rg: str, name: str, include_pools: bool = True,
                include_maintenance: bool = True) -> dict[str, t.Any]:
    cluster = api.cluster(rg, name)
    props = cluster.get("properties") or {}
    channels = Channels.from_rest(props.get("autoUpgradeProfile"))
    profile = api.cluster_upgrade_profile(rg, name)
    control_plane = (profile.get("properties") or {}).get("controlPlaneProfile") or {}
    info: dict[str, t.Any] = {
        "name": cluster.get("name", name),
        "resource_group": rg,
        "id": cluster.get("id"),
        "location": cluster.get("location"),
        "provisioning_state": props.get("provisioningState"),
        "power_state": (props.get("powerState") or {}).get("code"),
        "kubernetes_version": props.get("kubernetesVersion"),
        "current_kubernetes_version": props.get("currentKubernetesVersion"),
        "available_upgrades": sorted((u.get("kubernetesVersion") for u in control_plane.get("upgrades") or []
                                      if u.get("kubernetesVersion")), key=_version_key),
        "upgrade_channel": channels.upgrade_channel,
        "node_os_upgrade_channel": channels.node_os_upgrade_channel,
        "auto_upgrade_profile_present": props.get("autoUpgradeProfile") is not None,
    }
    if include_pools:
        pools = []
        for pool in api.agent_pools(rg, name):
            profile = api.agent_pool_upgrade_profile(rg, name, str(pool.get("name")))
            pools.append(pool_summary(pool, profile))
        info["pools"] = pools
        info["node_image_upgrades_available"] = sorted(p["name"] for p in pools if p["node_image_upgrade_available"])
    if include_maintenance:
        info["maintenance_configurations"] = sorted(
            (window_to_options(str(c.get("name")), c.get("properties")) or {"config_name": c.get("name")}
             for c in api.maintenance_configurations(rg, name)), key=lambda c: str(c.get("config_name")))
    return info


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def upgrade_node_images(api: AksApi, rg: str, name: str, pools: list[str] | None, check_mode: bool, wait: bool,
                        timeout: float) -> list[dict[str, t.Any]]:
    """Start a node image upgrade on every selected pool behind its latest image; wait for all when asked."""
    target = cluster_target(rg, name)
    deadline = time.monotonic() + timeout
    available = api.agent_pools(rg, name)
    by_name = {str(p.get("name")): p for p in available}
    if pools:
        unknown = [p for p in pools if p not in by_name]
        if unknown:
            raise NodepatchError(f"agent pool(s) {', '.join(unknown)} not found", target=target,
                                 hint=f"pools of this cluster: {', '.join(sorted(by_name))}")
    selected = pools or sorted(by_name)
    results: list[dict[str, t.Any]] = []
    pollers: list[tuple[dict[str, t.Any], t.Any]] = []
    for pool_name in selected:
        summary = pool_summary(by_name[pool_name], api.agent_pool_upgrade_profile(rg, name, pool_name))
        entry = {"name": pool_name, "os_type": summary["os_type"], "node_image_version": summary["node_image_version"],
                 "latest_node_image_version": summary["latest_node_image_version"]}
        if summary["provisioning_state"] == "UpgradingNodeImageVersion":
            entry["action"] = "in_progress"
        elif not summary["node_image_upgrade_available"]:
            entry["action"] = "up_to_date"
        elif check_mode:
            entry["action"] = "would_upgrade"
        else:
            entry["action"] = "upgrade_started"
            pollers.append((entry, api.upgrade_node_image(rg, name, pool_name, follow=wait)))
        results.append(entry)
    if wait:
        for entry, poller in pollers:
            pool_target = f"{target}/agentPools/{entry['name']}"
            api.wait(poller, deadline, f"the node image upgrade of agent pool {entry['name']}", pool_target)
            after = api.agent_pool(rg, name, entry["name"])
            entry["action"] = "upgraded"
            entry["node_image_version_after"] = (after.get("properties") or {}).get("nodeImageVersion")
    return results


# -------------------------------------------------------------------------------------------- certificates

CREDENTIAL_ROLES = {
    "admin": "'Azure Kubernetes Service Cluster Admin Role' (Microsoft.ContainerService/managedClusters/"
             "listClusterAdminCredential/action)",
    "user": "'Azure Kubernetes Service Cluster User Role' (Microsoft.ContainerService/managedClusters/"
            "listClusterUserCredential/action)",
}


def list_credentials(api: AksApi, rg: str, name: str, kind: str) -> list[tuple[str, bytes]]:
    """The kubeconfigs AKS hands out (``kind`` admin or user) as (name, YAML) pairs. They hold keys and tokens:
    callers mask them (``kubeconfig_secrets``) before anything else is done with them."""
    operations = api.client.managed_clusters
    call = operations.list_cluster_admin_credentials if kind == "admin" else operations.list_cluster_user_credentials
    try:
        raw = api._call(f"list the {kind} credentials of managed cluster {name}", cluster_target(rg, name),
                        lambda: call(rg, name, cls=_raw))
    except NodepatchError as error:
        if error.details.get("status_code") == 403:
            error.hint = f"the identity needs {CREDENTIAL_ROLES[kind]} on the cluster"
        elif kind == "admin" and "local accounts" in error.message:
            error.hint = "use credentials=user: its kubeconfig carries the cluster CA too"
        raise
    return [(str(item.get("name") or kind), base64.b64decode(item.get("value") or ""))
            for item in (raw or {}).get("kubeconfigs") or []]


def start_certificate_rotation(api: AksApi, rg: str, name: str, follow: bool = True) -> t.Any:
    """POST rotateClusterCertificates (202 + Location); returns the poller. ``follow=False`` polls nothing."""
    kwargs: dict[str, t.Any] = {} if follow else {"polling": False}
    try:
        return api._call(f"start the certificate rotation of managed cluster {name}", cluster_target(rg, name),
                         lambda: api.client.managed_clusters.begin_rotate_cluster_certificates(rg, name, **kwargs))
    except NodepatchError as error:
        if error.details.get("status_code") == 403:
            error.hint = ("the identity needs Microsoft.ContainerService/managedClusters/rotateClusterCertificates/"
                          "action on the cluster, as in 'Azure Kubernetes Service Contributor Role'")
        raise


def follow_operation(api: AksApi, poller: t.Any, deadline: float, what: str, target: str,
                     step: float = 5.0) -> list[dict[str, t.Any]]:
    """Like ``AksApi.wait``, and records each status the operation reports with the seconds since it started."""
    started = time.monotonic()
    progress: list[dict[str, t.Any]] = []

    def note() -> None:
        status = str(poller.status())
        if not progress or progress[-1]["status"] != status:
            progress.append({"status": status, "after_seconds": round(time.monotonic() - started, 1)})

    note()
    try:
        while not poller.done() and time.monotonic() < deadline:
            api._call(what, target, lambda: poller.wait(timeout=min(step, max(0.0, deadline - time.monotonic()))))
            note()
        api.wait(poller, deadline, what, target)
    except NodepatchError as error:
        inner = getattr(error.__cause__, "error", None)
        if error.details.get("status_code") != 200 or inner is None:
            raise
        # The operation itself ended Failed (its status document says why), not the request.
        raise NodepatchError(f"{what} failed: {getattr(inner, 'code', '')}: {getattr(inner, 'message', '')}",
                             target=target, details={**error.details, "progress": progress},
                             hint="look at the cluster's activity log; once the cause is fixed, run the operation "
                             "again") from error
    note()
    return progress


def read_certificates(api: AksApi, rg: str, name: str, kind: str,
                      hide: t.Callable[[list[str]], None]) -> tuple[list[CertificateFacts], bytes]:
    """The certificates of the cluster's credentials, and the first kubeconfig (to save after a rotation)."""
    target = cluster_target(rg, name)
    kubeconfigs = list_credentials(api, rg, name, kind)
    for _kubeconfig, text in kubeconfigs:
        hide(kubeconfig_secrets(text))
    if not kubeconfigs:
        raise NodepatchError(f"AKS returned no {kind} credentials", target=target)
    certs = merge_certificates(parse_kubeconfig(kc_name, text, target) for kc_name, text in kubeconfigs)
    return certs, kubeconfigs[0][1]


def manage_certificates(api: AksApi, rg: str, name: str, kind: str, state: str, within_days: int, force: bool,
                        check_mode: bool, wait: bool, timeout: float, hide: t.Callable[[list[str]], None],
                        save: t.Callable[[bytes], None] | None = None,
                        now: datetime.datetime | None = None) -> dict[str, t.Any]:
    """Inspect the cluster's certificates and, for ``state=rotated``, rotate them when the decision says so.

    Refusals (busy or stopped cluster) raise before anything is written; ``hide`` receives every secret of the
    credentials before they are parsed; ``save`` receives the new kubeconfig after a followed rotation."""
    target = cluster_target(rg, name)
    deadline = time.monotonic() + timeout
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cluster = api.cluster(rg, name)
    props = cluster.get("properties") or {}
    certs, _kubeconfig = read_certificates(api, rg, name, kind, hide)
    power = (props.get("powerState") or {}).get("code")
    decision = decide_rotation(certs, now, within_days, force, props.get("provisioningState"), power)
    first = min(certs, key=lambda c: c.not_after) if certs else None
    result: dict[str, t.Any] = {
        "cluster": {"name": cluster.get("name", name), "resource_group": rg, "id": cluster.get("id"),
                    "provisioning_state": props.get("provisioningState"), "power_state": power,
                    "kubernetes_version": props.get("currentKubernetesVersion") or props.get("kubernetesVersion"),
                    **lifetime_facts((cluster.get("systemData") or {}).get("createdAt"), certs,
                                     props.get("enableRBAC"))},
        "credentials": kind,
        "certificates": [c.as_dict(now) for c in certs],
        "earliest_expiry": format_time(first.not_after) if first else None,
        "days_left": first.as_dict(now)["days_left"] if first else None,
        "due": decision.due,
        "rotation_due": decision.rotate,
        "refused": decision.refused,
        "reasons": decision.reasons,
        "rotated": [],
        "action": "rotation_due" if decision.rotate else "none",
    }
    if state == "inspected" or not decision.rotate:
        return result
    if decision.refused:
        raise NodepatchError(f"will not rotate the certificates: {decision.refused}", target=target,
                             hint=decision.hint, details={k: result[k] for k in ("certificates", "due", "reasons")})
    result["rotated"] = [{"name": c.name, "not_after_before": format_time(c.not_after)} for c in certs]
    result["warnings"] = [DOWNTIME_WARNING]
    if check_mode:
        result["action"] = "would_rotate"
        return result
    poller = start_certificate_rotation(api, rg, name, follow=wait)
    if not wait:
        result["action"] = "rotation_started"
        result["cluster"]["provisioning_state"] = "RotatingClusterCertificates"
        return result
    what = f"the certificate rotation of managed cluster {name}"
    try:
        result["progress"] = follow_operation(api, poller, deadline, what, target)
    except NodepatchError as error:
        error.details.update(action="rotation_failed", certificates=result["certificates"])
        raise
    after, kubeconfig = read_certificates(api, rg, name, kind, hide)
    if save is not None:
        save(kubeconfig)
    result["kubeconfig_saved"] = save is not None
    by_role = {(c.role, c.name): c for c in after}
    for entry, cert in zip(result["rotated"], certs):
        new = by_role.get((cert.role, cert.name))
        entry["not_after_after"] = format_time(new.not_after) if new else None
    result["certificates_after"] = [c.as_dict(now) for c in after]
    result["cluster"]["provisioning_state"] = ((api.cluster(rg, name).get("properties") or {})
                                               .get("provisioningState"))
    result["action"] = "rotated"
    return result
