//! ECR's archive storage class: status counts active and archived images and bytes apart
//! (`DescribeImages` with `imageStatus=ANY`), and verify explains the 404 of an archived tag.

mod common;

use common::*;

fn status(emu: &Emulator) -> serde_json::Value {
    let out = emu.cli().args(["--json", "status"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    stdout_json(&out)
}

fn verify(emu: &Emulator) -> std::process::Output {
    emu.cli()
        .args(["verify", "--json", "--image", "python:3.12"])
        .env(
            "ECHO_REGISTRY_URL",
            format!("{}/_registry/{OWN_ACCOUNT}/{REGION}", emu.endpoint),
        )
        .output()
        .unwrap()
}

async fn storage_class(emu: &Emulator, class: aws_sdk_ecr::types::TargetStorageClass) {
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    ecr.update_image_storage_class()
        .repository_name("echo/python")
        .image_id(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("3.12")
                .build(),
        )
        .target_storage_class(class)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn archived_images_are_counted_apart_and_their_pull_is_explained() {
    let emu = Emulator::start();
    let out = emu
        .cli()
        .args(["apply", "--echo-account", ECHO_ACCOUNT, "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    pull_through_cache(&emu).await;
    let repo = |v: &serde_json::Value| {
        v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "echo/python")
            .cloned()
            .unwrap_or_else(|| panic!("echo/python in {v}"))
    };
    let before = repo(&status(&emu));
    assert_eq!(before["image_count"], 1, "{before}");
    assert_eq!(before["archived_image_count"], 0, "{before}");
    let size = before["size_bytes"].as_u64().unwrap();
    assert!(size > 0);

    storage_class(&emu, aws_sdk_ecr::types::TargetStorageClass::Archive).await;
    let after = repo(&status(&emu));
    assert_eq!(after["image_count"], 0, "{after}");
    assert_eq!(after["size_bytes"], 0, "{after}");
    assert_eq!(after["archived_image_count"], 1, "{after}");
    assert_eq!(after["archived_size_bytes"], size, "{after}");
    // The human table says so too.
    let out = emu.cli().args(["status"]).output().unwrap();
    assert!(
        text(&out.stdout).contains("0 +1 archived"),
        "{}",
        text(&out.stdout)
    );

    // A pull of the archived tag answers 404, and verify says why and how to restore it.
    let out = verify(&emu);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "ImageArchived", "{v}");
    assert!(
        v["error"]["next_step"].as_str().unwrap().contains(
            "aws ecr update-image-storage-class --region eu-west-1 --repository-name echo/python --image-id imageTag=3.12 --target-storage-class STANDARD"
        ),
        "{v}"
    );
    storage_class(&emu, aws_sdk_ecr::types::TargetStorageClass::Standard).await;
    let out = verify(&emu);
    assert!(out.status.success(), "{}", text(&out.stdout));
}
