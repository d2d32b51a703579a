//! Benchmark that prints figures (no assertions): `fleet status` over 200 simulated targets
//! (100 accounts × 2 regions in the sandbox organization), every AWS call taking 50 ms, read
//! through the engine's bounded pool.
//!
//! Run: `cargo bench --bench fleet` (add `-- 500 20` for 500 targets at 20 ms).

use std::time::{Duration, Instant};

use echo_onboard::aws::stacksets::{Deployment, Permission, StackSetRequest};
use echo_onboard::aws::Aws;
use echo_onboard::engine::fleet::{status, READ_POOL};
use echo_onboard::sandbox::SandboxAws;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let targets: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let latency_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let regions = vec!["eu-west-1".to_string(), "us-east-1".to_string()];
    let accounts: Vec<String> = (0..targets.div_ceil(regions.len()))
        .map(|i| format!("{:012}", 500_000_000_000u64 + i as u64))
        .collect();

    let aws = SandboxAws::empty("eu-west-1").with_latency(Duration::from_millis(latency_ms));
    let params = vec![
        (
            "SourceRegistryAccountId".to_string(),
            "999988887777".to_string(),
        ),
        ("RepositoryNamePrefix".to_string(), "echo".to_string()),
    ];
    aws.create_stack_set(&StackSetRequest {
        name: "bench".into(),
        template_body: echo_onboard::cfn::TEMPLATE_YAML.into(),
        parameters: params,
        tags: vec![],
        permission: Permission::SelfManaged {
            admin_role_arn:
                "arn:aws:iam::210987654321:role/AWSCloudFormationStackSetAdministrationRole".into(),
            execution_role_name: "AWSCloudFormationStackSetExecutionRole".into(),
        },
        call_as: None,
    })
    .await
    .unwrap();
    let started = Instant::now();
    aws.create_stack_instances(
        "bench",
        &Deployment {
            accounts: accounts.clone(),
            regions: regions.clone(),
            ..Default::default()
        },
        &None,
    )
    .await
    .unwrap();
    println!(
        "deploy: {} instances ({} accounts × {} regions) in {:.2?} (simulated, {latency_ms} ms per call)",
        accounts.len() * regions.len(),
        accounts.len(),
        regions.len(),
        started.elapsed()
    );

    for run in 1..=3 {
        let started = Instant::now();
        let st = status(&aws, "bench", &None, "OrganizationAccountAccessRole")
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let with_rule = st.instances.iter().filter(|i| i.rule.is_some()).count();
        println!(
            "fleet status run {run}: {} targets, {with_rule} with their rule, in {:.2?} ({READ_POOL} targets read at once, {latency_ms} ms per call; one at a time would be about {:.1?})",
            st.instances.len(),
            elapsed,
            Duration::from_millis(latency_ms * 4 * st.instances.len() as u64)
        );
    }
}
