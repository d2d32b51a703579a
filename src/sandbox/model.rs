//! The request constraints of AWS's service models (the files the SDKs are generated from) that
//! the sandbox enforces, with the error AWS gives, so the sandbox refuses what AWS refuses.
//! A pattern must match the whole value, as the services check it.

use crate::aws::AwsError;
use crate::core::cache::CreationTemplate;

/// ECR `KmsKeyForRepositoryCreationTemplate`.
pub const ECR_TEMPLATE_KMS_KEY: &str =
    r"^$|arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[a-z0-9-]+";
/// ECR `CredentialArn` (50–612 characters).
pub const ECR_CREDENTIAL_ARN: &str = r"^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$";
/// ECR `RCTAppliedFor`.
const APPLIED_FOR: &[&str] = &["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"];
/// ECR `ImageTagMutability`.
const TAG_MUTABILITY: &[&str] = &[
    "MUTABLE",
    "IMMUTABLE",
    "IMMUTABLE_WITH_EXCLUSION",
    "MUTABLE_WITH_EXCLUSION",
];

/// AWS's wording for one violated constraint (the same as the emulator's and the service's).
pub fn violation(action: &str, value: &str, at: &str, constraint: &str) -> AwsError {
    super::err(
        action,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{value}' at '{at}' failed to satisfy constraint: {constraint}"
        ),
    )
}

fn pattern(action: &str, value: &str, at: &str, pattern: &str) -> Result<(), AwsError> {
    let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).expect("model pattern");
    if re.is_match(value) {
        Ok(())
    } else {
        Err(violation(
            action,
            value,
            at,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ))
    }
}

fn length(action: &str, value: &str, at: &str, min: usize, max: usize) -> Result<(), AwsError> {
    let n = value.chars().count();
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(violation(
            action,
            value,
            at,
            &format!("Member must have length less than or equal to {max} and greater than or equal to {min}"),
        ))
    }
}

fn one_of(action: &str, value: &str, at: &str, values: &[&str]) -> Result<(), AwsError> {
    if values.contains(&value) {
        Ok(())
    } else {
        Err(violation(
            action,
            value,
            at,
            &format!(
                "Member must satisfy enum value set: [{}]",
                values.join(", ")
            ),
        ))
    }
}

/// `Create/UpdateRepositoryCreationTemplate` in `region`.
pub fn check_template(action: &str, t: &CreationTemplate, region: &str) -> Result<(), AwsError> {
    length(action, &t.description, "description", 0, 256)?;
    one_of(
        action,
        &t.image_tag_mutability,
        "imageTagMutability",
        TAG_MUTABILITY,
    )?;
    for a in &t.applied_for {
        one_of(action, a, "appliedFor.member", APPLIED_FOR)?;
    }
    if let Some(role) = &t.custom_role_arn {
        length(action, role, "customRoleArn", 0, 2048)?;
    }
    if let Some(key) = &t.kms_key {
        let at = "encryptionConfiguration.kmsKey";
        length(action, key, at, 0, 2048)?;
        pattern(action, key, at, ECR_TEMPLATE_KMS_KEY)?;
        // The API reference: "The key must exist in the same Region as the repository." The
        // code and wording of that refusal are not documented (inferred).
        if let Some(r) = crate::core::cache::kms_key_region(key).filter(|r| *r != region) {
            return Err(super::err(
                action,
                "InvalidParameterException",
                &format!("Invalid parameter at 'encryptionConfiguration.kmsKey': the KMS key {key} is in {r}; it must exist in the same Region as the repository ({region})"),
            ));
        }
    }
    Ok(())
}

/// A rule's `credentialArn` (Create/UpdatePullThroughCacheRule).
pub fn check_credential_arn(action: &str, arn: &str) -> Result<(), AwsError> {
    length(action, arn, "credentialArn", 50, 612)?;
    pattern(action, arn, "credentialArn", ECR_CREDENTIAL_ARN)
}

/// A pull-time-update exclusion's `principalArn` (ECR `PrincipalArn`: at most 200 characters).
pub fn check_principal_arn(action: &str, arn: &str) -> Result<(), AwsError> {
    length(action, arn, "principalArn", 0, 200)?;
    pattern(
        action,
        arn,
        "principalArn",
        crate::core::cache::PRINCIPAL_ARN_PATTERN,
    )
}

/// A rule's `customRoleArn` (ECR `CustomRoleArn`: at most 2048 characters).
pub fn check_role_arn(action: &str, arn: &str) -> Result<(), AwsError> {
    length(action, arn, "customRoleArn", 0, 2048)
}
