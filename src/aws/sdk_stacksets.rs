//! StackSets calls of the SDK adapter (the `Aws` trait's fleet methods delegate here).

use std::sync::Arc;

use aws_sdk_cloudformation::types as cf;

use super::sdk::{parameter_map, plain_parameters, SdkAws};
use super::stacksets::{
    CallAs, Deployment, InstanceResult, OperationInfo, Permission, StackInstance, StackSetInfo,
    StackSetRequest,
};
use super::{Aws, AwsResult};

fn call_as(c: &CallAs) -> Option<cf::CallAs> {
    c.as_deref().map(cf::CallAs::from)
}

fn prefs(d: &Deployment) -> cf::StackSetOperationPreferences {
    cf::StackSetOperationPreferences::builder()
        .region_concurrency_type(if d.prefs.parallel_regions {
            cf::RegionConcurrencyType::Parallel
        } else {
            cf::RegionConcurrencyType::Sequential
        })
        .max_concurrent_percentage(i32::from(d.prefs.max_concurrent_percentage))
        .failure_tolerance_percentage(i32::from(d.prefs.failure_tolerance_percentage))
        // With STRICT_FAILURE_TOLERANCE (the default) a tolerance of 0 caps concurrency at one
        // account at a time; SOFT deploys at the chosen percentage.
        .concurrency_mode(cf::ConcurrencyMode::SoftFailureTolerance)
        .build()
}

/// Accounts (self-managed) or OUs (service-managed) as the API takes them.
/// (An update with no targets names none: it changes the set and no instance.)
fn targets(d: &Deployment) -> (Option<Vec<String>>, Option<cf::DeploymentTargets>) {
    if d.org_units.is_empty() {
        ((!d.accounts.is_empty()).then(|| d.accounts.clone()), None)
    } else {
        (
            None,
            Some(
                cf::DeploymentTargets::builder()
                    .set_organizational_unit_ids(Some(d.org_units.clone()))
                    .build(),
            ),
        )
    }
}

fn is_not_found(code: &str) -> bool {
    code == "StackSetNotFoundException" || code == "StackSetNotFound"
}

impl SdkAws {
    pub(super) async fn ss_organization(&self) -> AwsResult<Option<super::stacksets::OrgInfo>> {
        match self.organizations.describe_organization().send().await {
            Ok(out) => Ok(out.organization().map(|o| super::stacksets::OrgInfo {
                id: o.id().unwrap_or_default().to_string(),
                management_account: o.master_account_id().unwrap_or_default().to_string(),
            })),
            Err(e) => {
                let err = self.error("organizations:DescribeOrganization", e);
                if err.code == "AWSOrganizationsNotInUseException" {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    pub(super) async fn ss_org_access(&self, c: &CallAs) -> AwsResult<String> {
        let out = self
            .cloudformation
            .describe_organizations_access()
            .set_call_as(call_as(c))
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DescribeOrganizationsAccess", e))?;
        Ok(out
            .status()
            .map_or("DISABLED".to_string(), |s| s.as_str().to_string()))
    }

    pub(super) async fn ss_describe(
        &self,
        name: &str,
        c: &CallAs,
    ) -> AwsResult<Option<StackSetInfo>> {
        let out = match self
            .cloudformation
            .describe_stack_set()
            .stack_set_name(name)
            .set_call_as(call_as(c))
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let err = self.error("cloudformation:DescribeStackSet", e);
                return if is_not_found(&err.code) {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let Some(s) = out.stack_set() else {
            return Ok(None);
        };
        let status = s
            .status()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default();
        if status == "DELETED" {
            return Ok(None);
        }
        let permission = match s.permission_model() {
            Some(cf::PermissionModels::ServiceManaged) => Permission::ServiceManaged {
                auto_deploy: s
                    .auto_deployment()
                    .and_then(|a| a.enabled())
                    .unwrap_or(false),
            },
            _ => Permission::SelfManaged {
                admin_role_arn: s.administration_role_arn().unwrap_or_default().to_string(),
                execution_role_name: s.execution_role_name().unwrap_or_default().to_string(),
            },
        };
        Ok(Some(StackSetInfo {
            name: s.stack_set_name().unwrap_or(name).to_string(),
            status,
            template_body: s.template_body().unwrap_or_default().to_string(),
            parameters: parameter_map(s.parameters()),
            permission,
        }))
    }

    pub(super) async fn ss_instances(
        &self,
        name: &str,
        c: &CallAs,
    ) -> AwsResult<Vec<StackInstance>> {
        let items: Vec<cf::StackInstanceSummary> = self
            .cloudformation
            .list_stack_instances()
            .stack_set_name(name)
            .set_call_as(call_as(c))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("cloudformation:ListStackInstances", e))?;
        Ok(items
            .iter()
            .map(|i| StackInstance {
                account: i.account().unwrap_or_default().to_string(),
                region: i.region().unwrap_or_default().to_string(),
                status: i
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                detailed_status: i
                    .stack_instance_status()
                    .and_then(|s| s.detailed_status())
                    .map(|s| s.as_str().to_string()),
                status_reason: i.status_reason().map(str::to_string),
                org_unit: i.organizational_unit_id().map(str::to_string),
            })
            .collect())
    }

    pub(super) async fn ss_create(&self, req: &StackSetRequest) -> AwsResult<()> {
        let mut b = self
            .cloudformation
            .create_stack_set()
            .stack_set_name(&req.name)
            .template_body(&req.template_body)
            .set_parameters(Some(plain_parameters(&req.parameters).collect()))
            .set_tags(Some(
                req.tags
                    .iter()
                    .map(|(k, v)| cf::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .capabilities(cf::Capability::CapabilityNamedIam)
            .set_call_as(call_as(&req.call_as));
        b = match &req.permission {
            Permission::SelfManaged {
                admin_role_arn,
                execution_role_name,
            } => b
                .permission_model(cf::PermissionModels::SelfManaged)
                .administration_role_arn(admin_role_arn)
                .execution_role_name(execution_role_name),
            Permission::ServiceManaged { auto_deploy } => b
                .permission_model(cf::PermissionModels::ServiceManaged)
                .auto_deployment(
                    cf::AutoDeployment::builder()
                        .enabled(*auto_deploy)
                        .retain_stacks_on_account_removal(false)
                        .build(),
                ),
        };
        b.send()
            .await
            .map_err(|e| self.error("cloudformation:CreateStackSet", e))?;
        Ok(())
    }

    pub(super) async fn ss_update(
        &self,
        req: &StackSetRequest,
        to: &Deployment,
    ) -> AwsResult<String> {
        let (accounts, deployment) = targets(to);
        let mut b = self
            .cloudformation
            .update_stack_set()
            .stack_set_name(&req.name)
            .template_body(&req.template_body)
            .set_parameters(Some(plain_parameters(&req.parameters).collect()))
            .capabilities(cf::Capability::CapabilityNamedIam)
            .set_accounts(accounts)
            .set_deployment_targets(deployment)
            .set_regions((!to.regions.is_empty()).then(|| to.regions.clone()))
            .operation_preferences(prefs(to))
            .set_call_as(call_as(&req.call_as));
        match &req.permission {
            Permission::SelfManaged {
                admin_role_arn,
                execution_role_name,
            } => {
                b = b
                    .administration_role_arn(admin_role_arn)
                    .execution_role_name(execution_role_name);
            }
            // Sent on every update, so a changed setting is applied (not only planned).
            Permission::ServiceManaged { auto_deploy } => {
                b = b.auto_deployment(
                    cf::AutoDeployment::builder()
                        .enabled(*auto_deploy)
                        .retain_stacks_on_account_removal(false)
                        .build(),
                );
            }
        }
        let out = b
            .send()
            .await
            .map_err(|e| self.error("cloudformation:UpdateStackSet", e))?;
        Ok(out.operation_id().unwrap_or_default().to_string())
    }

    pub(super) async fn ss_create_instances(
        &self,
        name: &str,
        to: &Deployment,
        c: &CallAs,
    ) -> AwsResult<String> {
        let (accounts, deployment) = targets(to);
        let out = self
            .cloudformation
            .create_stack_instances()
            .stack_set_name(name)
            .set_accounts(accounts)
            .set_deployment_targets(deployment)
            .set_regions(Some(to.regions.clone()))
            .operation_preferences(prefs(to))
            .set_call_as(call_as(c))
            .send()
            .await
            .map_err(|e| self.error("cloudformation:CreateStackInstances", e))?;
        Ok(out.operation_id().unwrap_or_default().to_string())
    }

    pub(super) async fn ss_delete_instances(
        &self,
        name: &str,
        from: &Deployment,
        retain: bool,
        c: &CallAs,
    ) -> AwsResult<String> {
        let (accounts, deployment) = targets(from);
        let out = self
            .cloudformation
            .delete_stack_instances()
            .stack_set_name(name)
            .set_accounts(accounts)
            .set_deployment_targets(deployment)
            .set_regions(Some(from.regions.clone()))
            .retain_stacks(retain)
            .operation_preferences(prefs(from))
            .set_call_as(call_as(c))
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DeleteStackInstances", e))?;
        Ok(out.operation_id().unwrap_or_default().to_string())
    }

    pub(super) async fn ss_delete(&self, name: &str, c: &CallAs) -> AwsResult<()> {
        self.cloudformation
            .delete_stack_set()
            .stack_set_name(name)
            .set_call_as(call_as(c))
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DeleteStackSet", e))?;
        Ok(())
    }

    pub(super) async fn ss_running_operations(
        &self,
        name: &str,
        c: &CallAs,
    ) -> AwsResult<Vec<String>> {
        let ops: Vec<cf::StackSetOperationSummary> = self
            .cloudformation
            .list_stack_set_operations()
            .stack_set_name(name)
            .set_call_as(call_as(c))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("cloudformation:ListStackSetOperations", e))?;
        Ok(ops
            .iter()
            .filter(|o| {
                matches!(
                    o.status().map(|s| s.as_str()),
                    Some("RUNNING" | "QUEUED" | "STOPPING")
                )
            })
            .filter_map(|o| o.operation_id().map(str::to_string))
            .collect())
    }

    pub(super) async fn ss_operation(
        &self,
        name: &str,
        id: &str,
        c: &CallAs,
    ) -> AwsResult<OperationInfo> {
        let out = self
            .cloudformation
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(id)
            .set_call_as(call_as(c))
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DescribeStackSetOperation", e))?;
        let op = out.stack_set_operation();
        let results: Vec<cf::StackSetOperationResultSummary> = self
            .cloudformation
            .list_stack_set_operation_results()
            .stack_set_name(name)
            .operation_id(id)
            .set_call_as(call_as(c))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("cloudformation:ListStackSetOperationResults", e))?;
        Ok(OperationInfo {
            id: id.to_string(),
            status: op
                .and_then(|o| o.status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: op.and_then(|o| o.status_reason()).map(str::to_string),
            results: results
                .iter()
                .map(|r| InstanceResult {
                    account: r.account().unwrap_or_default().to_string(),
                    region: r.region().unwrap_or_default().to_string(),
                    status: r
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: r.status_reason().map(str::to_string),
                })
                .collect(),
        })
    }

    pub(super) async fn ss_for_account(
        &self,
        account: &str,
        role_name: &str,
        region: &str,
    ) -> AwsResult<Arc<dyn Aws>> {
        let partition = crate::core::regions::partition(region);
        let role_arn = format!("arn:{partition}:iam::{account}:role/{role_name}");
        let base = self
            .sdk_config()
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("echo-onboard-fleet")
            .configure(&base)
            .build()
            .await;
        let config = base
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        Ok(Arc::new(SdkAws::new(&config, None)))
    }
}
