# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The node metadata options of node_metadata, which node_drain shares to send them with its cordon or uncordon.
    DOCUMENTATION = r"""
options:
  annotations:
    description: Annotations to set on the node; a null value removes the annotation. Only the keys given are touched.
    type: dict
    default: {}
  labels:
    description: Labels to set on the node; a null value removes the label. Only the keys given are touched.
    type: dict
    default: {}
  held_annotations:
    description:
      - Annotations to set while the node is in hand, keeping what each was before.
      - What an annotation C(PREFIX/NAME) held (or that it was absent) is recorded in our annotation
        C(nodepatch.kube/NAME-before), as JSON (C("false"), or C(null) for absent), in the same patch that sets it.
      - A record already there is never overwritten, so a run after a crash keeps what the first run saw.
      - A key may not be named in O(annotations) or O(restored_annotations) as well; two keys whose records would
        share a name, and annotations of C(nodepatch.kube/) itself, are refused. A value may not be null.
    type: dict
    default: {}
  restored_annotations:
    description:
      - Annotations held by O(held_annotations) (in this run or an earlier one) to put back as they were, removing
        them when they were absent, and their records with them.
      - An annotation without our record is left as it is, so naming one that was never held changes nothing.
    type: list
    elements: str
    default: []
"""
