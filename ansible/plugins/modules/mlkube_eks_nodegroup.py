#!/usr/bin/python
# mlkube: an EKS managed node group on any AMI type EKS offers (community.aws.eks_nodegroup accepts only AL2 ones).

from __future__ import annotations

DOCUMENTATION = r"""
module: mlkube_eks_nodegroup
short_description: Create, update or delete an EKS managed node group
description:
  - Creates an EKS managed node group, or deletes it with O(state=absent).
  - Accepts every AMI type EKS offers, AL2023 ones included (C(AL2023_x86_64_STANDARD), C(AL2023_x86_64_NVIDIA), ...).
    C(community.aws.eks_nodegroup) accepts only AL2 AMI types, and AWS publishes no AL2 AMI from Kubernetes 1.33 on.
  - An existing node group is compared with the options. Scaling, labels and taints are changed in place
    (C(UpdateNodegroupConfig)); what EKS cannot change in place (node role, subnets, instance types, AMI type,
    capacity type, disk size) fails the task with the differences, and nothing is changed.
  - Supports check mode (the node group is read, nothing is written).
options:
  name:
    description: Node group name.
    type: str
    required: true
  cluster_name:
    description: Name of the EKS cluster the node group belongs to.
    type: str
    required: true
  state:
    description: Whether the node group should exist.
    type: str
    choices: [present, absent]
    default: present
  node_role:
    description: ARN of the IAM role of the nodes. Required with O(state=present).
    type: str
  subnets:
    description: Subnet ids the nodes run in. Required with O(state=present).
    type: list
    elements: str
  instance_types:
    description: EC2 instance types of the nodes.
    type: list
    elements: str
    default: [m6i.xlarge]
  ami_type:
    description: EKS AMI type, for example C(AL2023_x86_64_STANDARD) or C(AL2023_x86_64_NVIDIA).
    type: str
    default: AL2023_x86_64_STANDARD
  capacity_type:
    description: On-demand or spot instances.
    type: str
    choices: [ON_DEMAND, SPOT]
    default: ON_DEMAND
  disk_size:
    description: Root volume size in GiB (EKS's default, 20, when not set).
    type: int
  scaling:
    description: Number of nodes.
    type: dict
    default: {}
    suboptions:
      min_size:
        description: Fewest nodes.
        type: int
        default: 1
      max_size:
        description: Most nodes.
        type: int
        default: 1
      desired_size:
        description: Nodes wanted now.
        type: int
        default: 1
  labels:
    description: Kubernetes labels of the nodes.
    type: dict
    default: {}
  taints:
    description: Kubernetes taints of the nodes.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: Taint key.
        type: str
        required: true
      value:
        description: Taint value.
        type: str
        default: ""
      effect:
        description: Taint effect, as EKS spells it.
        type: str
        choices: [NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE]
        required: true
  wait:
    description: Wait until the node group is active (or deleted).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: GPU node group on the AL2023 NVIDIA AMI, tainted for GPU workloads only
  mlkube_eks_nodegroup:
    name: gpu
    cluster_name: mlkube
    node_role: arn:aws:iam::123456789012:role/mlkube-nodes
    subnets: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
    instance_types: [g5.xlarge]
    ami_type: AL2023_x86_64_NVIDIA
    scaling: {min_size: 0, max_size: 2, desired_size: 1}
    labels:
      nvidia.com/gpu.present: "true"
    taints:
      - {key: nvidia.com/gpu, value: present, effect: NO_SCHEDULE}
    region: eu-west-1
"""

RETURN = r"""
nodegroup:
  description: The node group as DescribeNodegroup returns it, keys in snake case (empty once deleted or in check mode
    before it exists).
  type: dict
  returned: always
update:
  description: What changed in place (C(scaling_config), C(labels), C(taints)), as sent to UpdateNodegroupConfig.
  type: dict
  returned: when an existing node group was updated
"""

from typing import Any

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def describe(client: Any, module: AnsibleAWSModule) -> dict[str, Any] | None:
    try:
        return client.describe_nodegroup(
            clusterName=module.params["cluster_name"], nodegroupName=module.params["name"]
        )["nodegroup"]
    except is_boto3_error_code("ResourceNotFoundException"):
        return None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Couldn't read node group {module.params['name']}")
    return None  # not reached: fail_json_aws exits


def wanted_scaling(module: AnsibleAWSModule) -> dict[str, int]:
    scaling = module.params["scaling"]
    return {"minSize": scaling["min_size"], "maxSize": scaling["max_size"], "desiredSize": scaling["desired_size"]}


def wanted_taints(module: AnsibleAWSModule) -> list[dict[str, str]]:
    return [{"key": t["key"], "value": t["value"], "effect": t["effect"]} for t in module.params["taints"]]


def immutable_differences(module: AnsibleAWSModule, current: dict[str, Any]) -> list[str]:
    p = module.params
    wanted: dict[str, tuple[Any, Any]] = {
        "node_role": (p["node_role"], current.get("nodeRole")),
        "subnets": (sorted(p["subnets"]), sorted(current.get("subnets", []))),
        "instance_types": (sorted(p["instance_types"]), sorted(current.get("instanceTypes", []))),
        "ami_type": (p["ami_type"], current.get("amiType")),
        "capacity_type": (p["capacity_type"], current.get("capacityType")),
    }
    if p["disk_size"] is not None:
        wanted["disk_size"] = (p["disk_size"], current.get("diskSize"))
    return [f"{name} is {have} (wanted {want})" for name, (want, have) in wanted.items() if want != have]


def config_update(module: AnsibleAWSModule, current: dict[str, Any]) -> dict[str, Any]:
    """The UpdateNodegroupConfig arguments that bring scaling, labels and taints to the options (empty: no change)."""
    update: dict[str, Any] = {}
    scaling = wanted_scaling(module)
    if {k: current.get("scalingConfig", {}).get(k) for k in scaling} != scaling:
        update["scalingConfig"] = scaling
    labels = {k: str(v) for k, v in module.params["labels"].items()}
    have_labels = current.get("labels") or {}
    add_labels = {k: v for k, v in labels.items() if have_labels.get(k) != v}
    remove_labels = sorted(set(have_labels) - set(labels))
    if add_labels or remove_labels:
        update["labels"] = {"addOrUpdateLabels": add_labels, "removeLabels": remove_labels}
    taints = wanted_taints(module)
    have_taints = [
        {"key": t["key"], "value": t.get("value", ""), "effect": t["effect"]} for t in current.get("taints") or []
    ]
    same_slot = lambda a, b: (a["key"], a["effect"]) == (b["key"], b["effect"])  # noqa: E731
    add_taints = [t for t in taints if t not in have_taints]
    remove_taints = [t for t in have_taints if not any(same_slot(t, w) for w in taints)]
    if add_taints or remove_taints:
        update["taints"] = {"addOrUpdateTaints": add_taints, "removeTaints": remove_taints}
    return update


def wait_for(client: Any, module: AnsibleAWSModule, waiter_name: str) -> None:
    if not module.params["wait"]:
        return
    delay = 15 if waiter_name == "nodegroup_active" else 30
    try:
        client.get_waiter(waiter_name).wait(
            clusterName=module.params["cluster_name"],
            nodegroupName=module.params["name"],
            WaiterConfig={"Delay": delay, "MaxAttempts": 1 + module.params["wait_timeout"] // delay},
        )
    except botocore.exceptions.WaiterError as e:
        module.fail_json_aws(e, msg=f"Node group {module.params['name']} did not become {waiter_name.split('_')[1]}")


def create(client: Any, module: AnsibleAWSModule) -> None:
    p = module.params
    if module.check_mode:
        module.exit_json(changed=True, nodegroup={})
    request: dict[str, Any] = {
        "clusterName": p["cluster_name"],
        "nodegroupName": p["name"],
        "nodeRole": p["node_role"],
        "subnets": p["subnets"],
        "instanceTypes": p["instance_types"],
        "amiType": p["ami_type"],
        "capacityType": p["capacity_type"],
        "scalingConfig": wanted_scaling(module),
        "labels": {k: str(v) for k, v in p["labels"].items()},
        "taints": wanted_taints(module),
    }
    if p["disk_size"] is not None:
        request["diskSize"] = p["disk_size"]
    try:
        client.create_nodegroup(**request)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg=f"Couldn't create node group {p['name']}")
    wait_for(client, module, "nodegroup_active")
    module.exit_json(changed=True, nodegroup=camel_dict_to_snake_dict(describe(client, module) or {}))


def update(client: Any, module: AnsibleAWSModule, current: dict[str, Any]) -> None:
    p = module.params
    differences = immutable_differences(module, current)
    if differences:
        module.fail_json(
            msg=f"Node group {p['name']} cannot change in place: {'; '.join(differences)}. "
            "Delete the node group (state=absent) to recreate it with them."
        )
    if current.get("status") != "ACTIVE" and not module.check_mode:
        wait_for(client, module, "nodegroup_active")
    changes = config_update(module, current)
    if not changes or module.check_mode:
        module.exit_json(changed=bool(changes), nodegroup=camel_dict_to_snake_dict(current), update=changes)
    try:
        client.update_nodegroup_config(clusterName=p["cluster_name"], nodegroupName=p["name"], **changes)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg=f"Couldn't update node group {p['name']}")
    wait_for(client, module, "nodegroup_active")
    module.exit_json(
        changed=True,
        nodegroup=camel_dict_to_snake_dict(describe(client, module) or {}),
        update=camel_dict_to_snake_dict(changes),
    )


def ensure_absent(client: Any, module: AnsibleAWSModule, current: dict[str, Any] | None) -> None:
    if current is None:
        module.exit_json(changed=False, nodegroup={})
        return
    if not module.check_mode:
        if current.get("status") != "DELETING":
            try:
                client.delete_nodegroup(clusterName=module.params["cluster_name"], nodegroupName=module.params["name"])
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                module.fail_json_aws(e, msg=f"Couldn't delete node group {module.params['name']}")
        wait_for(client, module, "nodegroup_deleted")
    module.exit_json(changed=True, nodegroup={})


def main() -> None:
    taint = dict(
        key=dict(type="str", required=True, no_log=False),
        value=dict(type="str", default=""),
        effect=dict(type="str", required=True, choices=["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]),
    )
    scaling = dict(
        min_size=dict(type="int", default=1),
        max_size=dict(type="int", default=1),
        desired_size=dict(type="int", default=1),
    )
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            cluster_name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            node_role=dict(type="str"),
            subnets=dict(type="list", elements="str"),
            instance_types=dict(type="list", elements="str", default=["m6i.xlarge"]),
            ami_type=dict(type="str", default="AL2023_x86_64_STANDARD"),
            capacity_type=dict(type="str", choices=["ON_DEMAND", "SPOT"], default="ON_DEMAND"),
            disk_size=dict(type="int"),
            scaling=dict(type="dict", default={}, options=scaling),
            labels=dict(type="dict", default={}),
            taints=dict(type="list", elements="dict", default=[], options=taint),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
        ),
        required_if=[("state", "present", ("node_role", "subnets"))],
        supports_check_mode=True,
    )
    client = module.client("eks")
    current = describe(client, module)
    if module.params["state"] == "absent":
        ensure_absent(client, module, current)
    elif current is None:
        create(client, module)
    else:
        update(client, module, current)


if __name__ == "__main__":
    main()
