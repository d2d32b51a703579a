//! Resolves the intrinsic functions the template uses (Ref, Fn::Sub, Fn::If, Fn::Equals,
//! Fn::GetAtt, AWS::NoValue) for given parameters and pseudo parameters. Pure.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub struct Context {
    pub values: BTreeMap<String, String>,
    pub conditions: BTreeMap<String, bool>,
}

impl Context {
    /// Parameters (defaults filled in) plus `AWS::*` pseudo parameters; conditions evaluated.
    pub fn new(
        template: &Value,
        params: &[(String, String)],
        account: &str,
        region: &str,
        stack: &str,
    ) -> Self {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        if let Some(declared) = template["Parameters"].as_object() {
            for (name, spec) in declared {
                if let Some(d) = spec.get("Default").and_then(Value::as_str) {
                    values.insert(name.clone(), d.to_string());
                }
            }
        }
        values.extend(params.iter().cloned());
        let partition = crate::core::regions::partition(region);
        for (k, v) in [
            ("AWS::AccountId", account),
            ("AWS::Region", region),
            ("AWS::Partition", partition),
            ("AWS::URLSuffix", crate::core::regions::dns_suffix(region)),
            ("AWS::StackName", stack),
        ] {
            values.insert(k.into(), v.into());
        }
        let mut ctx = Context {
            values,
            conditions: BTreeMap::new(),
        };
        if let Some(conds) = template["Conditions"].as_object() {
            for (name, expr) in conds {
                let v = ctx.condition(expr);
                ctx.conditions.insert(name.clone(), v);
            }
        }
        ctx
    }

    fn condition(&self, expr: &Value) -> bool {
        match expr.as_object().and_then(|o| o.iter().next()) {
            Some((k, Value::Array(args))) if k == "Fn::Equals" && args.len() == 2 => {
                self.resolve(&args[0]) == self.resolve(&args[1])
            }
            Some((k, Value::Array(args))) if k == "Fn::Not" => {
                !args.first().is_some_and(|a| self.condition(a))
            }
            _ => false,
        }
    }

    /// The value with intrinsics resolved; `None` for AWS::NoValue.
    pub fn resolve(&self, v: &Value) -> Option<Value> {
        match v {
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|i| self.resolve(i)).collect(),
            )),
            Value::Object(o) if o.len() == 1 => {
                let (k, arg) = o.iter().next().expect("one key");
                match k.as_str() {
                    "Ref" => {
                        let name = arg.as_str().unwrap_or_default();
                        if name == "AWS::NoValue" {
                            return None;
                        }
                        Some(Value::String(
                            self.values
                                .get(name)
                                .cloned()
                                .unwrap_or_else(|| format!("{{{name}}}")),
                        ))
                    }
                    "Fn::Sub" => arg.as_str().map(|s| Value::String(self.sub(s))),
                    "Fn::GetAtt" => Some(Value::String(format!(
                        "{{{}}}",
                        arg.as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("."))
                            .unwrap_or_default()
                    ))),
                    "Fn::If" => {
                        let a = arg.as_array()?;
                        let yes = self
                            .conditions
                            .get(a.first()?.as_str()?)
                            .copied()
                            .unwrap_or(false);
                        self.resolve(if yes { a.get(1)? } else { a.get(2)? })
                    }
                    _ => Some(Value::Object(self.resolve_map(o))),
                }
            }
            Value::Object(o) => Some(Value::Object(self.resolve_map(o))),
            other => Some(other.clone()),
        }
    }

    fn resolve_map(&self, o: &Map<String, Value>) -> Map<String, Value> {
        o.iter()
            .filter_map(|(k, v)| self.resolve(v).map(|r| (k.clone(), r)))
            .collect()
    }

    fn sub(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            out.push_str(self.values.get(name).map(String::as_str).unwrap_or(name));
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::{parameters, template};
    use crate::core::model::desired;
    use crate::core::policy;
    use crate::core::validate::SetupInput;

    fn check_equal(input: SetupInput) {
        let setup = input.validate().unwrap();
        let own = "444455556666";
        let t = template();
        let ctx = Context::new(t, &parameters(&setup), own, setup.region.as_str(), "s");
        let role = ctx
            .resolve(&t["Resources"]["AccessRole"]["Properties"])
            .unwrap();
        let d = desired(&setup, own);
        assert!(policy::equivalent(
            &role["AssumeRolePolicyDocument"],
            &d.echo_role().trust.to_value()
        ));
        let p = &role["Policies"][0];
        assert_eq!(p["PolicyName"], d.echo_role().policy_name);
        assert!(
            policy::equivalent(&p["PolicyDocument"], &d.echo_role().policy.to_value()),
            "template policy {} differs from the core's {}",
            p["PolicyDocument"],
            d.echo_role().policy.to_value()
        );
        // One role per stack and region, so stacks in several regions never clash.
        assert_eq!(
            role["RoleName"],
            crate::cfn::stack_role_name(&d.echo_role().name, setup.region.as_str())
        );
        for (k, v) in [
            ("managed-by", "echo-onboard"),
            ("echo-onboard:prefix", setup.prefix.as_str()),
        ] {
            assert!(role["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["Key"] == k && t["Value"] == v));
        }
        let rule = ctx
            .resolve(&t["Resources"]["PullThroughCacheRule"]["Properties"])
            .unwrap();
        assert_eq!(rule["EcrRepositoryPrefix"], d.rule.prefix);
        assert_eq!(rule["UpstreamRegistry"], d.rule.upstream_registry);
        assert_eq!(rule["UpstreamRegistryUrl"], d.rule.upstream_url);
        assert_eq!(rule["CustomRoleArn"], "{AccessRole.Arn}");
        if setup.prefix.is_root() {
            assert!(rule.get("UpstreamRepositoryPrefix").is_none());
        } else {
            assert_eq!(rule["UpstreamRepositoryPrefix"], d.rule.upstream_prefix);
        }
    }

    #[test]
    fn template_policies_equal_the_core_policies() {
        check_equal(SetupInput::with_defaults("111122223333", "eu-west-1"));
        let mut custom = SetupInput::with_defaults("111122223333", "ap-southeast-2");
        custom.prefix = "team/echo".into();
        custom.upstream_prefix = "hardened".into();
        custom.role_name = "custom-role".into();
        custom.echo_region = "eu-central-1".into();
        check_equal(custom);
        let mut root = SetupInput::with_defaults("111122223333", "us-gov-west-1");
        root.prefix = "ROOT".into();
        root.echo_region = "us-gov-west-1".into();
        check_equal(root);
    }

    #[test]
    fn with_cache_settings_the_stack_role_and_template_equal_the_cores() {
        let mut input = SetupInput::with_defaults("111122223333", "eu-west-1");
        input.cache.immutable_tags = true;
        input.cache.expire_untagged_after = Some("14".into());
        input.cache.kms_key = Some(
            "arn:aws:kms:eu-west-1:777788889999:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        );
        check_equal(input.clone());
        let own_key = "arn:aws:kms:eu-west-1:444455556666:key/abcd-0001";
        input.cache.kms_key = Some(own_key.into());
        input.prefix = "ROOT".into();
        check_equal(input.clone());

        let setup = input.validate().unwrap();
        let own = "444455556666";
        let t = template();
        let ctx = Context::new(t, &parameters(&setup), own, "eu-west-1", "s");
        let props = ctx
            .resolve(&t["Resources"]["RepositoryCreationTemplate"]["Properties"])
            .unwrap();
        let want = desired(&setup, own).template.unwrap();
        assert_eq!(props["Prefix"], want.prefix);
        // The same text, naming the stack: the owner is read from it.
        assert_eq!(
            props["Description"],
            want.description
                .replace("echo-onboard:", "echo-onboard stack s:")
        );
        let made = crate::core::cache::CreationTemplate {
            description: props["Description"].as_str().unwrap().into(),
            ..want.clone()
        };
        assert_eq!(
            made.managed_by(),
            crate::core::model::ManagedBy::CloudFormation("s".into())
        );
        assert_eq!(props["ImageTagMutability"], want.image_tag_mutability);
        assert_eq!(props["EncryptionConfiguration"]["EncryptionType"], "KMS");
        assert_eq!(props["EncryptionConfiguration"]["KmsKey"], own_key);
        let lifecycle: serde_json::Value =
            serde_json::from_str(props["LifecyclePolicy"].as_str().unwrap()).unwrap();
        assert_eq!(Some(lifecycle), want.lifecycle_policy);
        assert!(props.get("RepositoryPolicy").is_none());
        // Without cache settings the stack has no template.
        let plain = SetupInput::with_defaults("111122223333", "eu-west-1")
            .validate()
            .unwrap();
        let ctx = Context::new(t, &parameters(&plain), own, "eu-west-1", "s");
        assert!(!ctx.condition(&t["Conditions"]["WantTemplate"]));
    }

    #[test]
    fn template_keeps_the_seed_parameters_and_outputs() {
        let t = template();
        for (p, default) in [
            ("SourceRegistryAccountId", None),
            ("SourceRegistryRegion", Some("us-east-1")),
            ("RepositoryNamePrefix", Some("echo")),
            ("CacheRuleName", Some("echo-registry-cache")),
        ] {
            assert_eq!(t["Parameters"][p]["Default"].as_str(), default, "{p}");
        }
        assert_eq!(
            t["Parameters"]["SourceRegistryAccountId"]["AllowedPattern"],
            "^[0-9]{12}$"
        );
        for o in [
            "PullthroughCacheRuleArn",
            "RepositoryPrefix",
            "UpstreamRegistryUrl",
            "AccessRoleArn",
            "UsageInstructions",
        ] {
            assert!(t["Outputs"][o].is_object(), "{o}");
        }
    }

    #[test]
    fn the_upstream_stack_makes_the_cores_rule_secret_and_template() {
        use crate::cfn::{token_parameter, Kind};
        use crate::core::upstream::Token;
        let mut input = SetupInput::with_defaults("", "eu-west-1");
        input.prefix = "hub".into();
        input.upstream.name = "docker-hub".into();
        input.upstream.username = "me".into();
        // Quotes and backslashes survive the JSON the template builds with Fn::Sub.
        input.upstream.token = Some(Token::new(r#"tok"en\x"#));
        input.cache.immutable_tags = true;
        input.cache.expire_untagged_after = Some("7".into());
        let setup = input.validate().unwrap();
        let own = "444455556666";
        let t = Kind::Upstream.template();
        let mut params = parameters(&setup);
        params.push((
            "AccessToken".into(),
            token_parameter(&setup).unwrap().expose().to_string(),
        ));
        let ctx = Context::new(t, &params, own, "eu-west-1", "s");
        let props = |id: &str| ctx.resolve(&t["Resources"][id]["Properties"]).unwrap();
        let d = desired(&setup, own);

        let secret = props("Credential");
        assert_eq!(secret["Name"], d.secret.as_ref().unwrap().name);
        let value: serde_json::Value =
            serde_json::from_str(secret["SecretString"].as_str().unwrap()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"username": "me", "accessToken": r#"tok"en\x"#})
        );
        let rule = props("PullThroughCacheRule");
        assert_eq!(rule["UpstreamRegistry"], d.rule.upstream_registry);
        assert_eq!(rule["UpstreamRegistryUrl"], d.rule.upstream_url);
        assert_eq!(rule["CredentialArn"], "{Credential}");
        assert!(rule.get("CustomRoleArn").is_none());
        let template = props("RepositoryCreationTemplate");
        let want = d.template.unwrap();
        assert_eq!(template["ImageTagMutability"], want.image_tag_mutability);
        assert_eq!(
            template["EncryptionConfiguration"]["EncryptionType"],
            want.encryption_type
        );
        let lifecycle: serde_json::Value =
            serde_json::from_str(template["LifecyclePolicy"].as_str().unwrap()).unwrap();
        assert_eq!(Some(lifecycle), want.lifecycle_policy);

        // Without credentials: no secret, and a rule without a credential.
        let mut quay = SetupInput::with_defaults("", "eu-west-1");
        quay.prefix = "quay".into();
        quay.upstream.name = "quay".into();
        let setup = quay.validate().unwrap();
        let ctx = Context::new(t, &parameters(&setup), own, "eu-west-1", "s");
        assert!(!ctx.conditions["NewSecret"]);
        let rule = ctx
            .resolve(&t["Resources"]["PullThroughCacheRule"]["Properties"])
            .unwrap();
        assert!(rule.get("CredentialArn").is_none(), "{rule}");
        assert_eq!(
            Kind::Upstream.resources(&parameters(&setup)).len(),
            2,
            "rule and template"
        );
    }
}
