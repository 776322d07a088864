"""Template deployments as long-running operations, driven by Azure's own SDK (azure-mgmt-resource and
azure-mgmt-resource-deployments, where deployments now live): the PUT
answers 201 Running with Azure-AsyncOperation, the SDK polls it, and the deployment's operations say what each
resource did."""
import json
import os
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient

from test_cli import coffer_cli

API = "api-version=2021-04-01"

IDENTITY_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"identityName": {"type": "string"}},
    "resources": [{
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
        "name": "[parameters('identityName')]", "location": "[resourceGroup().location]",
    }],
    "outputs": {"principalId": {"type": "string", "value": "[reference(parameters('identityName')).principalId]"}},
}


@pytest.fixture
def resources(coffer, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", coffer.ca)
    monkeypatch.setenv("SSL_CERT_FILE", coffer.ca)
    operator = coffer.operator()
    credential = ClientSecretCredential(operator["tenantId"], operator["clientId"], operator["clientSecret"],
                                        authority=f"https://{coffer.host}", disable_instance_discovery=True)
    base = f"https://{coffer.host}"
    groups = ResourceManagementClient(credential, operator["subscriptionId"], base_url=base, credential_scopes=[f"{base}/.default"])
    groups.resource_groups.create_or_update("deployrg", {"location": "westeurope"})
    return DeploymentsMgmtClient(credential, operator["subscriptionId"], base_url=base, credential_scopes=[f"{base}/.default"])


def test_the_sdk_deploys_and_polls(resources, coffer):
    poller = resources.deployments.begin_create_or_update("deployrg", "ident", {"properties": {
        "mode": "Incremental", "template": IDENTITY_TEMPLATE, "parameters": {"identityName": {"value": "appid"}}}})
    deployment = poller.result()
    assert deployment.properties.provisioning_state == "Succeeded"
    assert len(deployment.properties.outputs["principalId"]["value"]) == 36
    assert [r.id.split("/")[-1] for r in deployment.properties.output_resources] == ["appid"]
    operations = list(resources.deployment_operations.list("deployrg", "ident"))
    assert len(operations) == 1
    operation = operations[0].properties
    assert operation.provisioning_state == "Succeeded" and operation.status_code == "Created"
    assert operation.target_resource.resource_name == "appid"
    assert [d.name for d in resources.deployments.list_by_resource_group("deployrg")] == ["ident"]
    # The CLI sees the same operations.
    listed = json.loads(coffer_cli(coffer, "deployment", "operation", "group", "list", "-g", "deployrg", "-n", "ident").stdout)
    assert listed[0]["properties"]["targetResource"]["resourceName"] == "appid"


def test_the_put_is_long_running(coffer, resources):
    operator = coffer.operator()
    token = coffer.operator_token()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"https://{coffer.host}/subscriptions/{operator['subscriptionId']}/resourceGroups/deployrg/providers/Microsoft.Resources/deployments/raw?{API}"
    body = {"properties": {"mode": "Incremental", "template": IDENTITY_TEMPLATE, "parameters": {"identityName": {"value": "rawid"}}}}
    started = requests.put(url, json=body, headers=headers, verify=coffer.ca, timeout=30)
    assert started.status_code == 201 and started.json()["properties"]["provisioningState"] == "Running"
    assert started.headers["Retry-After"] == "1"
    status_url = started.headers["Azure-AsyncOperation"]
    assert "/operationStatuses/" in status_url
    deadline = time.time() + 30
    while (status := requests.get(status_url, headers=headers, verify=coffer.ca, timeout=30).json())["status"] == "Running":
        assert time.time() < deadline
        time.sleep(0.2)
    assert status["status"] == "Succeeded"
    assert requests.get(url, headers=headers, verify=coffer.ca, timeout=30).json()["properties"]["provisioningState"] == "Succeeded"


def test_a_failing_resource_fails_the_operation_and_is_named(resources):
    template = dict(IDENTITY_TEMPLATE, resources=IDENTITY_TEMPLATE["resources"] + [{
        "type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2019-12-01-preview", "name": "bad-name!",
        "location": "westeurope", "sku": {"name": "Premium"}}], outputs={})
    poller = resources.deployments.begin_create_or_update("deployrg", "broken", {"properties": {
        "mode": "Incremental", "template": template, "parameters": {"identityName": {"value": "okid"}}}})
    with pytest.raises(HttpResponseError) as failure:
        poller.result()
    assert "bad-name!" in str(failure.value) and "InvalidResourceName" in str(failure.value)
    deployment = resources.deployments.get("deployrg", "broken")
    assert deployment.properties.provisioning_state == "Failed"
    states = {o.properties.target_resource.resource_name: o.properties.provisioning_state
              for o in resources.deployment_operations.list("deployrg", "broken")}
    assert states == {"okid": "Succeeded", "bad-name!": "Failed"}


def test_a_bad_template_is_refused_before_anything_runs(resources):
    template = dict(IDENTITY_TEMPLATE, resources=[{"type": "Microsoft.Nowhere/things", "apiVersion": "2020-01-01", "name": "x"}])
    with pytest.raises(HttpResponseError) as refused:
        resources.deployments.begin_create_or_update("deployrg", "invalid", {"properties": {"mode": "Incremental", "template": template}})
    assert refused.value.status_code == 400 and "InvalidTemplate" in str(refused.value)
    assert "invalid" not in [d.name for d in resources.deployments.list_by_resource_group("deployrg")]


def test_a_deployment_cut_short_by_a_restart_ends_failed(coffer, resources):
    # Many identities, so that the deployment is still running when the server is killed.
    template = {**IDENTITY_TEMPLATE, "resources": [{**IDENTITY_TEMPLATE["resources"][0],
                                                    "name": "[concat(parameters('identityName'), copyIndex())]",
                                                    "copy": {"name": "many", "count": 400}}], "outputs": {}}
    body = {"properties": {"mode": "Incremental", "template": template, "parameters": {"identityName": {"value": "cut"}}}}
    operator_token = coffer.operator_token()
    headers = {"Authorization": f"Bearer {operator_token}"}
    group = f"https://{coffer.host}/subscriptions/{coffer.operator()['subscriptionId']}/resourceGroups/deployrg"

    def identities():
        listed = requests.get(f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2023-01-31",
                              headers=headers, verify=coffer.ca, timeout=30).json()
        assert "nextLink" not in listed
        return listed["value"]

    url = f"{group}/providers/Microsoft.Resources/deployments/cut?{API}"
    started = requests.put(url, json=body, headers=headers, verify=coffer.ca, timeout=60)
    assert started.status_code == 201
    status_url = started.headers["Azure-AsyncOperation"]
    assert requests.get(url, headers=headers, verify=coffer.ca, timeout=30).json()["properties"]["provisioningState"] == "Running"
    coffer.crash()
    coffer.start()
    deployment = resources.deployments.get("deployrg", "cut")
    assert deployment.properties.provisioning_state == "Failed" and deployment.properties.error.code == "DeploymentInterrupted"
    # Its pollers get an answer too; the kill landed before its end.
    assert requests.get(status_url, headers=headers, verify=coffer.ca, timeout=30).json()["status"] == "Failed"
    assert len(identities()) < 400
    # And it can be deployed again, to the end.
    again = resources.deployments.begin_create_or_update("deployrg", "cut", body).result()
    assert again.properties.provisioning_state == "Succeeded"
    assert len(identities()) == 400


def test_loops_nested_templates_list_functions_and_complete_mode(resources, coffer):
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"count": {"type": "int", "defaultValue": 3}},
        "resources": [
            {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
             "name": "[format('loopid{0}', copyIndex())]", "location": "westeurope",
             "copy": {"name": "identities", "count": "[parameters('count')]"}},
            {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2019-12-01-preview", "name": "adminloopreg",
             "location": "westeurope", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": True}},
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
             "dependsOn": ["identities"],
             "properties": {
                 "mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                 "parameters": {"suffix": {"value": "[string(parameters('count'))]"}},
                 "template": {
                     "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                     "contentVersion": "1.0.0.0",
                     "parameters": {"suffix": {"type": "string"}},
                     "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
                                    "name": "[concat('nestedid', parameters('suffix'))]", "location": "westeurope"}],
                     "outputs": {"nestedName": {"type": "string", "value": "[concat('nestedid', parameters('suffix'))]"}}}}},
        ],
        "outputs": {
            "names": {"type": "array", "copy": {"count": "[parameters('count')]", "input": "[format('loopid{0}', copyIndex())]"}},
            "fromNested": {"type": "string", "value": "[reference('inner').outputs.nestedName.value]"},
            "adminUser": {"type": "string", "value": "[listCredentials(resourceId('Microsoft.ContainerRegistry/registries', 'adminloopreg'), '2019-12-01-preview').username]"},
        },
    }
    deployment = resources.deployments.begin_create_or_update("deployrg", "loops", {"properties": {
        "mode": "Incremental", "template": template}}).result()
    outputs = deployment.properties.outputs
    assert outputs["names"]["value"] == ["loopid0", "loopid1", "loopid2"]
    assert outputs["fromNested"]["value"] == "nestedid3"
    assert outputs["adminUser"]["value"] == "adminloopreg"
    listed = json.loads(coffer_cli(coffer, "resource", "list", "-g", "deployrg", "--query", "[].name").stdout)
    assert sorted(listed) == ["adminloopreg", "loopid0", "loopid1", "loopid2", "nestedid3"]
    assert resources.deployments.get("deployrg", "inner").properties.provisioning_state == "Succeeded"

    # Complete mode with fewer instances and no nested template: what the template no longer declares goes.
    template["resources"] = template["resources"][:2]
    template["outputs"] = {}
    smaller = resources.deployments.begin_create_or_update("deployrg", "loops", {"properties": {
        "mode": "Complete", "template": template, "parameters": {"count": {"value": 1}}}}).result()
    assert smaller.properties.provisioning_state == "Succeeded"
    listed = json.loads(coffer_cli(coffer, "resource", "list", "-g", "deployrg", "--query", "[].name").stdout)
    assert sorted(listed) == ["adminloopreg", "loopid0"]
    deletes = [o.properties.target_resource.resource_name for o in resources.deployment_operations.list("deployrg", "loops")
               if o.properties.provisioning_operation == "Delete"]
    assert sorted(deletes) == ["loopid1", "loopid2", "nestedid3"]
