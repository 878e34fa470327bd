#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kured_deployment
short_description: Install, configure or remove kured (the Kubernetes Reboot Daemon) without helm or kubectl
version_added: 0.1.0
description:
  - Applies what kured's release manifests install (C(kured-rbac.yaml), C(kured-ds.yaml)) through the Kubernetes
    API, that is the namespace, ServiceAccount, ClusterRole and ClusterRoleBinding, Role and RoleBinding (kured updates only its
    own DaemonSet), and the DaemonSet with C(hostPID), a privileged container (or, with
    O(settings.reboot_method=signal), only C(CAP_KILL)), the host's sentinel directory mounted read-only,
    C(nodeSelector kubernetes.io/os=linux) and tolerations for control-plane nodes.
  - O(settings) map one to one onto kured's flags; a flag goes into the container's args only when it differs from
    kured's default. Every setting is checked before anything is written.
  - O(notify_url) is kept in a Secret and reaches kured as C(KURED_NOTIFY_URL) through the environment; it is
    never in the args, the diff or the result.
  - An object that exists is replaced only when it differs, keeping the labels and annotations others put on it
    (kured's lock is an annotation on its DaemonSet). Objects created here carry the label
    C(app.kubernetes.io/managed-by=nodepatch.kube); O(state=absent) deletes only those, and a namespace that
    existed before (such as C(kube-system)) is used, never changed or deleted.
  - O(state=absent) refuses while kured's lock has a holder (a node rebooting, or a pause), since deleting the
    DaemonSet would drop the lock.
  - Needs the rights to manage these objects, including ClusterRoles (a cluster administrator's, not
    C(deploy/rbac.yml)'s).
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
  - nodepatch.kube.attributes
options:
  state:
    description: V(present) installs or updates kured, V(absent) removes what V(present) created.
    type: str
    choices: [present, absent]
    default: present
  namespace:
    description: Namespace of kured's DaemonSet and its namespaced objects (kured's C(--ds-namespace)).
    type: str
    default: kube-system
  daemonset:
    description:
      - Name of the DaemonSet (kured's C(--ds-name)), which carries the lock; also the name of the ServiceAccount,
        Role and RoleBinding.
    type: str
    default: kured
  rbac_name:
    description: Name of the ClusterRole and ClusterRoleBinding.
    type: str
    default: kured
  image:
    description: kured's container image, pinned by tag or digest.
    type: str
    default: ghcr.io/kubereboot/kured:1.23.0
  image_pull_policy:
    description: The container's imagePullPolicy.
    type: str
    choices: [Always, IfNotPresent, Never]
    default: IfNotPresent
  sentinel_file:
    description:
      - The sentinel file on the node. Its directory is mounted at C(/sentinel) in the pod, and kured gets
        C(--reboot-sentinel=/sentinel/<file name>).
    type: str
    default: /var/run/reboot-required
  metrics_port:
    description: Port of kured's metrics endpoint (kured's C(--metrics-port)).
    type: int
    default: 8080
  tolerations:
    description: Tolerations added to the control-plane ones, as in a pod spec.
    type: list
    elements: dict
    default: []
  node_selector:
    description: The pods' nodeSelector; Windows nodes are excluded by the default.
    type: dict
    default: {kubernetes.io/os: linux}
  notify_url:
    description:
      - Where kured sends its notifications (kured's C(--notify-url), a shoutrrr URL such as
        C(slack://token@channel) or C(teams://...)). Kept in the Secret C(<daemonset>-notify).
      - Empty sends none.
    type: str
    default: ""
  variable_prefix:
    description: Put before option names in error messages, so a role's error names its own variable.
    type: str
    default: ""
  settings:
    description: kured's flags, by their names with C(_) for C(-). Each one not given keeps kured's default.
    type: dict
    default: {}
    suboptions:
      period:
        description: kured's C(--period). Seconds or a duration (V(90), V(30m), V(1h30m)). Not given means kured's
          default, V(1h0m0s).
        type: raw
      reboot_days:
        description: kured's C(--reboot-days). Days in kured's forms (V(su), V(mon), V(friday), V(0) to V(6) with V(0)
          for Sunday). Not given means kured's default, V(su,mo,tu,we,th,fr,sa).
        type: list
        elements: str
      start_time:
        description: kured's C(--start-time). A time of day (V(22:00), V(22:00:30), V(3pm)). Not given means kured's
          default, V(00:00).
        type: str
      end_time:
        description: kured's C(--end-time). A time of day (V(22:00), V(22:00:30), V(3pm)). Not given means kured's
          default, V(23:59:59).
        type: str
      time_zone:
        description: kured's C(--time-zone). An IANA time zone name. Not given means kured's default, V(UTC).
        type: str
      concurrency:
        description: kured's C(--concurrency). Not given means kured's default, V(1).
        type: int
      lock_annotation:
        description: kured's C(--lock-annotation). Not given means kured's default, V(weave.works/kured-node-lock).
        type: str
      lock_ttl:
        description: kured's C(--lock-ttl). Seconds or a duration (V(90), V(30m), V(1h30m)). Not given means kured's
          default, V(0s).
        type: raw
      lock_release_delay:
        description: kured's C(--lock-release-delay). Seconds or a duration (V(90), V(30m), V(1h30m)). Not given means
          kured's default, V(0s).
        type: raw
      drain_grace_period:
        description: kured's C(--drain-grace-period). Not given means kured's default, V(-1).
        type: int
      drain_timeout:
        description: kured's C(--drain-timeout). Seconds or a duration (V(90), V(30m), V(1h30m)). Not given means
          kured's default, V(0s).
        type: raw
      drain_delay:
        description: kured's C(--drain-delay). Seconds or a duration (V(90), V(30m), V(1h30m)). Not given means
          kured's default, V(0s).
        type: raw
      drain_pod_selector:
        description: kured's C(--drain-pod-selector). Not given means kured's default, unset.
        type: str
      skip_wait_for_delete_timeout:
        description: kured's C(--skip-wait-for-delete-timeout). Not given means kured's default, V(0).
        type: int
      force_reboot:
        description: kured's C(--force-reboot). Not given means kured's default, V(false).
        type: bool
      reboot_delay:
        description: kured's C(--reboot-delay). Seconds or a duration (V(90), V(30m), V(1h30m)). Not given means
          kured's default, V(0s).
        type: raw
      blocking_pod_selectors:
        description: kured's C(--blocking-pod-selector). One label selector per item; a pod matching any of them on
          the node blocks its reboot. Not given means kured's default, unset.
        type: list
        elements: str
      prometheus_url:
        description: kured's C(--prometheus-url). Not given means kured's default, unset.
        type: str
      alert_filter_regexp:
        description: kured's C(--alert-filter-regexp). A regular expression. Not given means kured's default, unset.
        type: str
      alert_filter_match_only:
        description: kured's C(--alert-filter-match-only). Not given means kured's default, V(false).
        type: bool
      alert_firing_only:
        description: kured's C(--alert-firing-only). Not given means kured's default, V(false).
        type: bool
      pre_reboot_node_labels:
        description: kured's C(--pre-reboot-node-labels). Label names to values. Not given means kured's default,
          unset.
        type: dict
      post_reboot_node_labels:
        description: kured's C(--post-reboot-node-labels). Label names to values. Not given means kured's default,
          unset.
        type: dict
      annotate_nodes:
        description: kured's C(--annotate-nodes). Not given means kured's default, V(false).
        type: bool
      prefer_no_schedule_taint:
        description: kured's C(--prefer-no-schedule-taint). Not given means kured's default, unset.
        type: str
      message_template_drain:
        description: kured's C(--message-template-drain). Not given means kured's default, V(Draining node %s).
        type: str
      message_template_reboot:
        description: kured's C(--message-template-reboot). Not given means kured's default, V(Rebooting node %s).
        type: str
      message_template_uncordon:
        description: kured's C(--message-template-uncordon). Not given means kured's default, V(Node %s rebooted &
          uncordoned successfully!).
        type: str
      reboot_method:
        description: kured's C(--reboot-method). Not given means kured's default, V(command).
        type: str
      reboot_command:
        description: kured's C(--reboot-command). Not given means kured's default, V(/bin/systemctl reboot).
        type: str
      reboot_signal:
        description: kured's C(--reboot-signal). Not given means kured's default, V(39).
        type: int
      reboot_sentinel_command:
        description: kured's C(--reboot-sentinel-command). Not given means kured's default, unset.
        type: str
      log_format:
        description: kured's C(--log-format). Not given means kured's default, V(text).
        type: str
attributes:
  check_mode:
    support: full
    details: Reports what would be created, updated or deleted, and writes nothing.
  diff_mode:
    support: full
    details: Shows kured's container args before and after, and which objects would be there; never a secret.
  idempotent:
    support: full
    details: A second run with the same options changes nothing.
"""

EXAMPLES = r"""
- name: Install kured, rebooting at night on weekdays, notifying Slack
  nodepatch.kube.kured_deployment:
    kubeconfig: ~/.kube/config
    notify_url: "{{ vault_kured_notify_url }}"
    settings:
      reboot_days: [mo, tu, we, th, fr]
      start_time: "22:00"
      end_time: "04:00"
      time_zone: Europe/Berlin
      period: 30m
      drain_timeout: 10m
      blocking_pod_selectors: [app=batch]
      annotate_nodes: true

- name: Remove it again
  nodepatch.kube.kured_deployment:
    state: absent
"""

RETURN = r"""
args:
  description: kured's container args, as applied (empty after O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: ["--ds-namespace=kube-system", "--ds-name=kured", "--reboot-sentinel=/sentinel/reboot-required",
           "--period=30m0s"]
objects:
  description: What was done (or, in check mode, would be done) to each object.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The object's kind.
      type: str
    name:
      description: Its name.
      type: str
    namespace:
      description: Its namespace (namespaced kinds only).
      type: str
      returned: for namespaced objects
    action:
      description:
        - V(create), V(update), V(delete), V(none) (up to date, or already absent), or V(keep) (exists without
          this collection's labels, so it is used but never changed or deleted).
      type: str
  sample: [{kind: DaemonSet, name: kured, namespace: kube-system, action: update}]
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule
from ansible_collections.nodepatch.kube.plugins.module_utils.kured_deployment import deploy
from ansible_collections.nodepatch.kube.plugins.module_utils.kured_manifest import (
    DEFAULT_IMAGE,
    FLAGS,
    KuredSpec,
    validate_settings,
    validate_spec,
)

OPTION_TYPES = {"duration": "raw", "days": "list", "selectors": "list", "labels": "dict", "bool": "bool",
                "int": "int"}


def settings_spec() -> dict:
    spec = {}
    for option, (_flag, kind, _default) in FLAGS.items():
        entry = {"type": OPTION_TYPES.get(kind, "str")}
        if entry["type"] == "list":
            entry["elements"] = "str"
        spec[option] = entry
    return spec


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            namespace=dict(type="str", default="kube-system"),
            daemonset=dict(type="str", default="kured"),
            rbac_name=dict(type="str", default="kured"),
            image=dict(type="str", default=DEFAULT_IMAGE),
            image_pull_policy=dict(type="str", choices=["Always", "IfNotPresent", "Never"], default="IfNotPresent"),
            sentinel_file=dict(type="str", default="/var/run/reboot-required"),
            metrics_port=dict(type="int", default=8080),
            tolerations=dict(type="list", elements="dict", default=[]),
            node_selector=dict(type="dict", default={"kubernetes.io/os": "linux"}),
            notify_url=dict(type="str", default="", no_log=True),
            variable_prefix=dict(type="str", default=""),
            settings=dict(type="dict", default={}, options=settings_spec()),
        ),
        supports_check_mode=True,
    )
    params = module.params
    prefix = params["variable_prefix"]
    spec = KuredSpec(namespace=params["namespace"], daemonset=params["daemonset"], rbac_name=params["rbac_name"],
                     image=params["image"], image_pull_policy=params["image_pull_policy"],
                     sentinel_file=params["sentinel_file"], metrics_port=params["metrics_port"],
                     tolerations=params["tolerations"], node_selector=params["node_selector"],
                     notify_url=params["notify_url"] or "")
    try:
        validate_spec(spec, prefix)
        values = validate_settings(params["settings"] or {}, prefix)
    except ValueError as error:
        module.fail_json(msg=str(error))
    try:
        result = deploy(module.client, params["state"], values, spec, check_mode=module.check_mode)
    except NodepatchError as error:
        module.fail_from(error)
    module.exit_json(changed=result.changed, args=result.args, objects=result.objects,
                     diff={"before": result.before, "after": result.after,
                           "before_header": f"kured {spec.namespace}/{spec.daemonset}",
                           "after_header": f"kured {spec.namespace}/{spec.daemonset}"})


if __name__ == "__main__":
    main()
