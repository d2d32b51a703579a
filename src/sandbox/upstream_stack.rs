//! The sandbox's simulation of a stack built from the upstream template: its secret, rule and
//! creation template, made and removed through the simulated APIs, and the change sets
//! CloudFormation would compute for it.

use crate::aws::{Aws, AwsError, NewRule, StackChange};
use crate::cfn::{
    resolve::Context, Kind, RULE_LOGICAL_ID, RULE_TYPE, SECRET_LOGICAL_ID, SECRET_TYPE,
    TEMPLATE_LOGICAL_ID, TEMPLATE_TYPE,
};
use crate::core::upstream::{secret_name, Token};

use super::{param, template_of, SandboxAws, SANDBOX_ACCOUNT};

/// A parameter's value as the template embeds it: the tool JSON-escapes user name and token.
fn unescaped(v: &str) -> String {
    serde_json::from_str(&format!("\"{v}\"")).unwrap_or_else(|_| v.to_string())
}

fn has_secret(params: &[(String, String)]) -> bool {
    param(params, "Username").is_some_and(|u| !u.is_empty())
}

impl SandboxAws {
    fn upstream_resolved(&self, stack: &str, params: &[(String, String)]) -> Context {
        Context::new(
            Kind::Upstream.template(),
            params,
            SANDBOX_ACCOUNT,
            &self.region(),
            stack,
        )
    }

    /// Creates the stack's secret (when it has a user name), rule and template, with events.
    pub(super) async fn create_upstream_resources(
        &self,
        stack: &str,
        params: &[(String, String)],
        token: Option<&Token>,
        verb: &str,
    ) -> Result<(), (String, String)> {
        let t = Kind::Upstream.template();
        let ctx = self.upstream_resolved(stack, params);
        let props = |id: &str| {
            ctx.resolve(&t["Resources"][id]["Properties"])
                .unwrap_or_default()
        };
        let fail = |id: &str, rtype: &str, e: AwsError| {
            let reason = format!(
                "Resource handler returned message: \"{}\" (HandlerErrorCode: {})",
                e.message, e.code
            );
            self.stack_event(stack, id, rtype, &format!("{verb}_FAILED"), Some(&reason));
            (id.to_string(), reason)
        };
        let prefix = param(params, "RepositoryNamePrefix")
            .unwrap_or_default()
            .to_string();
        let mut credential_arn = param(params, "CredentialArn")
            .filter(|a| !a.is_empty())
            .map(str::to_string);
        if has_secret(params) {
            self.stack_event(
                stack,
                SECRET_LOGICAL_ID,
                SECRET_TYPE,
                &format!("{verb}_IN_PROGRESS"),
                None,
            );
            let secret = props(SECRET_LOGICAL_ID);
            let tags: Vec<(String, String)> = secret["Tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            (
                                t["Key"].as_str().unwrap_or_default().to_string(),
                                t["Value"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let username = unescaped(param(params, "Username").unwrap_or_default());
            let token = Token::new(unescaped(token.map(Token::expose).unwrap_or_default()));
            let arn = self
                .create_secret(&secret_name(&prefix), &username, &token, &tags)
                .await
                .map_err(|e| fail(SECRET_LOGICAL_ID, SECRET_TYPE, e))?;
            credential_arn = Some(arn);
            self.stack_event(
                stack,
                SECRET_LOGICAL_ID,
                SECRET_TYPE,
                &format!("{verb}_COMPLETE"),
                None,
            );
        }
        self.stack_event(
            stack,
            RULE_LOGICAL_ID,
            RULE_TYPE,
            &format!("{verb}_IN_PROGRESS"),
            None,
        );
        let rule = props(RULE_LOGICAL_ID);
        let new_rule = NewRule {
            prefix: prefix.clone(),
            upstream_url: rule["UpstreamRegistryUrl"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            upstream_prefix: crate::core::validate::ROOT.to_string(),
            upstream_registry: rule["UpstreamRegistry"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            role_arn: None,
            credential_arn,
        };
        self.create_cache_rule(&new_rule)
            .await
            .map_err(|e| fail(RULE_LOGICAL_ID, RULE_TYPE, e))?;
        self.stack_event(
            stack,
            RULE_LOGICAL_ID,
            RULE_TYPE,
            &format!("{verb}_COMPLETE"),
            None,
        );
        self.stack_event(
            stack,
            TEMPLATE_LOGICAL_ID,
            TEMPLATE_TYPE,
            &format!("{verb}_IN_PROGRESS"),
            None,
        );
        let template = template_of(&props(TEMPLATE_LOGICAL_ID), &None);
        self.put_creation_template(&template, true)
            .await
            .map_err(|e| fail(TEMPLATE_LOGICAL_ID, TEMPLATE_TYPE, e))?;
        self.stack_event(
            stack,
            TEMPLATE_LOGICAL_ID,
            TEMPLATE_TYPE,
            &format!("{verb}_COMPLETE"),
            None,
        );
        Ok(())
    }

    /// Deletes what exists of the stack's template, rule and secret (the secret without a
    /// recovery window, as CloudFormation does), with events.
    pub(super) async fn delete_upstream_resources(&self, stack: &str, params: &[(String, String)]) {
        let prefix = param(params, "RepositoryNamePrefix")
            .unwrap_or_default()
            .to_string();
        let mut resources = vec![(TEMPLATE_LOGICAL_ID, TEMPLATE_TYPE)];
        let rule_ours = self.list_cache_rules().await.is_ok_and(|rules| {
            rules.iter().any(|r| {
                r.prefix == prefix
                    && r.role_arn.is_none()
                    && r.upstream_registry == param(params, "UpstreamRegistry").unwrap_or("")
            })
        });
        if rule_ours {
            resources.push((RULE_LOGICAL_ID, RULE_TYPE));
        }
        if has_secret(params) {
            resources.push((SECRET_LOGICAL_ID, SECRET_TYPE));
        }
        for (id, rtype) in resources {
            self.stack_event(stack, id, rtype, "DELETE_IN_PROGRESS", None);
            let _ = match rtype {
                TEMPLATE_TYPE => self.delete_creation_template(&prefix).await,
                RULE_TYPE => self.delete_cache_rule(&prefix).await,
                _ => self.delete_secret(&secret_name(&prefix), None).await,
            };
            self.stack_event(stack, id, rtype, "DELETE_COMPLETE", None);
        }
    }
}

/// The change set CloudFormation would compute for an upstream stack's new parameters
/// (`None`: a new stack). `token_changed`: the NoEcho token was given a new value.
pub(super) fn upstream_stack_changes(
    before: Option<&[(String, String)]>,
    after: &[(String, String)],
    token_changed: bool,
) -> Vec<StackChange> {
    let change =
        |action: &str, id: &str, rtype: &str, replace: Option<bool>, details: Vec<(&str, &str)>| {
            StackChange {
                action: action.into(),
                logical_id: id.into(),
                physical_id: None,
                resource_type: rtype.into(),
                replacement: replace.map(|r| if r { "True" } else { "False" }.into()),
                details: details
                    .into_iter()
                    .map(|(n, r)| (n.to_string(), r.to_string()))
                    .collect(),
            }
        };
    let Some(before) = before else {
        return Kind::Upstream
            .resources(after)
            .into_iter()
            .map(|(id, rtype)| change("Add", id, rtype, None, vec![]))
            .collect();
    };
    let changed = |k: &str| param(before, k) != param(after, k);
    let mut out = vec![];
    let prefix = changed("RepositoryNamePrefix");
    let secret_replaced = match (has_secret(before), has_secret(after)) {
        (false, true) => {
            out.push(change("Add", SECRET_LOGICAL_ID, SECRET_TYPE, None, vec![]));
            true
        }
        (true, false) => {
            out.push(change(
                "Remove",
                SECRET_LOGICAL_ID,
                SECRET_TYPE,
                None,
                vec![],
            ));
            true
        }
        (true, true) => {
            let mut details = vec![];
            if prefix {
                details.push(("Name", "Always"));
            }
            if changed("Username") || token_changed {
                details.push(("SecretString", "Never"));
            }
            if changed("UpstreamRegistry") || prefix {
                details.push(("Description", "Never"));
            }
            if prefix {
                details.push(("Tags", "Never"));
            }
            if !details.is_empty() {
                out.push(change(
                    "Modify",
                    SECRET_LOGICAL_ID,
                    SECRET_TYPE,
                    Some(prefix),
                    details,
                ));
            }
            prefix
        }
        (false, false) => false,
    };
    let rule_details: Vec<(&str, &str)> = [
        ("EcrRepositoryPrefix", prefix),
        ("UpstreamRegistry", changed("UpstreamRegistry")),
        ("UpstreamRegistryUrl", changed("UpstreamRegistryUrl")),
        ("CredentialArn", secret_replaced || changed("CredentialArn")),
    ]
    .into_iter()
    .filter(|(_, c)| *c)
    .map(|(n, _)| (n, "Always"))
    .collect();
    if !rule_details.is_empty() {
        out.push(change(
            "Modify",
            RULE_LOGICAL_ID,
            RULE_TYPE,
            Some(true),
            rule_details,
        ));
    }
    let mut template_details = vec![];
    if prefix {
        template_details.push(("Prefix", "Always"));
    }
    for p in ["ImageTagMutability", "LifecyclePolicy", "RepositoryPolicy"] {
        if changed(p) {
            template_details.push((p, "Never"));
        }
    }
    if !template_details.is_empty() {
        out.push(change(
            "Modify",
            TEMPLATE_LOGICAL_ID,
            TEMPLATE_TYPE,
            Some(prefix),
            template_details,
        ));
    }
    out
}
