//! The worker kinds' world on the emulator: AWS Batch compute environments and EC2 Auto Scaling
//! groups, and what they need first.
//!
//! moto creates a managed compute environment only with an existing service role, instance
//! profile, subnets and security groups (it launches its EC2 instances). The harness has no IAM
//! or EC2 SDK client (two large crates for five calls), so [`BatchNetwork::create`] makes those
//! with plain Query requests to the emulator; the environments and groups themselves go through
//! the real aws-sdk-batch and aws-sdk-autoscaling clients.

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::{Instance, LifecycleState};
use aws_sdk_batch::types::{CeState, CeType, ComputeResource, CrType};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The IAM and EC2 resources a managed compute environment needs.
#[derive(Debug, Clone)]
pub struct BatchNetwork {
    pub service_role: String,
    pub instance_profile: String,
    pub subnet: String,
    pub security_group: String,
}

/// One Query-protocol request to the emulator (IAM, EC2): the answer's XML. moto picks the
/// service from the credential scope of the Authorization header; the signature is not checked.
fn query(service: &str, params: &[(&str, &str)]) -> String {
    let url = crate::emulator_url();
    let address = url.trim_start_matches("http://").to_string();
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut stream = TcpStream::connect(&address)
        .unwrap_or_else(|e| panic!("connect to the emulator at {url}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout on a connected socket");
    write!(
        stream,
        "POST / HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDNIGHTSHIFTTEST/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap_or_else(|e| panic!("{service} {body}: {e}"));
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("{service} {body}: reading the answer: {e}"));
    let status = answer
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1));
    assert_eq!(status, Some("200"), "{service} {body}: {answer}");
    answer
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of the first `<tag>` of `xml`.
fn element(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..]
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| panic!("no </{tag}> in {xml}"));
    xml[start..start + end].to_string()
}

impl BatchNetwork {
    /// A service role, an instance profile, a VPC with one subnet and a security group, named
    /// after `prefix` (unique per test).
    pub fn create(prefix: &str) -> BatchNetwork {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batch.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let role = query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", &format!("{prefix}-batch")),
                ("AssumeRolePolicyDocument", trust),
            ],
        );
        let profile = query(
            "iam",
            &[
                ("Action", "CreateInstanceProfile"),
                ("Version", "2010-05-08"),
                ("InstanceProfileName", &format!("{prefix}-ecs")),
            ],
        );
        let vpc = element(
            &query(
                "ec2",
                &[
                    ("Action", "CreateVpc"),
                    ("Version", "2016-11-15"),
                    ("CidrBlock", "10.0.0.0/16"),
                ],
            ),
            "vpcId",
        );
        let subnet = query(
            "ec2",
            &[
                ("Action", "CreateSubnet"),
                ("Version", "2016-11-15"),
                ("VpcId", &vpc),
                ("CidrBlock", "10.0.1.0/24"),
                ("AvailabilityZone", "us-east-1a"),
            ],
        );
        let group = query(
            "ec2",
            &[
                ("Action", "CreateSecurityGroup"),
                ("Version", "2016-11-15"),
                ("VpcId", &vpc),
                ("GroupName", &format!("{prefix}-batch")),
                ("GroupDescription", "nightshift test"),
            ],
        );
        BatchNetwork {
            service_role: element(&role, "Arn"),
            instance_profile: element(&profile, "Arn"),
            subnet: element(&subnet, "subnetId"),
            security_group: element(&group, "groupId"),
        }
    }
}

/// The kind of compute environment to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentKind {
    /// Managed, on EC2 instances.
    Ec2,
    /// Managed, on Fargate.
    Fargate,
    /// Unmanaged: its instances are its owner's.
    Unmanaged,
}

/// Create the compute environment `name` with (minvCpus, maxvCpus, desiredvCpus); returns its
/// ARN.
pub async fn create_compute_environment(
    cfg: &SdkConfig,
    network: &BatchNetwork,
    name: &str,
    kind: EnvironmentKind,
    (min, max, desired): (i32, i32, i32),
) -> String {
    let batch = aws_sdk_batch::Client::new(cfg);
    let mut request = batch
        .create_compute_environment()
        .compute_environment_name(name)
        .state(CeState::Enabled)
        .service_role(&network.service_role);
    let resources = |t: CrType| {
        let builder = ComputeResource::builder()
            .r#type(t.clone())
            .maxv_cpus(max)
            .subnets(&network.subnet)
            .security_group_ids(&network.security_group);
        if t == CrType::Fargate {
            builder.build()
        } else {
            builder
                .minv_cpus(min)
                .desiredv_cpus(desired)
                .instance_types("m5.large")
                .instance_role(&network.instance_profile)
                .build()
        }
    };
    request = match kind {
        EnvironmentKind::Ec2 => request
            .r#type(CeType::Managed)
            .compute_resources(resources(CrType::Ec2)),
        EnvironmentKind::Fargate => request
            .r#type(CeType::Managed)
            .compute_resources(resources(CrType::Fargate)),
        EnvironmentKind::Unmanaged => request.r#type(CeType::Unmanaged),
    };
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateComputeEnvironment {name}: {e:?}"))
        .compute_environment_arn
        .expect("CreateComputeEnvironment returned no ARN")
}

/// (minvCpus, maxvCpus, desiredvCpus) of the environment now.
pub async fn environment_vcpus(cfg: &SdkConfig, name: &str) -> (i32, i32, Option<i32>) {
    let out = aws_sdk_batch::Client::new(cfg)
        .describe_compute_environments()
        .compute_environments(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeComputeEnvironments {name}: {e:?}"));
    let r = out
        .compute_environments()
        .first()
        .and_then(|e| e.compute_resources())
        .unwrap_or_else(|| panic!("no compute environment {name} with compute resources"));
    (
        r.minv_cpus().unwrap_or(0),
        r.maxv_cpus().unwrap_or(0),
        r.desiredv_cpus(),
    )
}

/// Set the environment's minvCpus (someone changing it during the night).
pub async fn set_environment_min(cfg: &SdkConfig, name: &str, min: i32) {
    aws_sdk_batch::Client::new(cfg)
        .update_compute_environment()
        .compute_environment(name)
        .compute_resources(
            aws_sdk_batch::types::ComputeResourceUpdate::builder()
                .minv_cpus(min)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateComputeEnvironment {name}: {e:?}"));
}

/// Create the Auto Scaling group `name` (a launch configuration of the same name, one zone)
/// with (MinSize, DesiredCapacity, MaxSize).
pub async fn create_auto_scaling_group(
    cfg: &SdkConfig,
    name: &str,
    (min, desired, max): (i32, i32, i32),
) {
    let asg = aws_sdk_autoscaling::Client::new(cfg);
    asg.create_launch_configuration()
        .launch_configuration_name(name)
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateLaunchConfiguration {name}: {e:?}"));
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_configuration_name(name)
        .availability_zones("us-east-1a")
        .min_size(min)
        .desired_capacity(desired)
        .max_size(max)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateAutoScalingGroup {name}: {e:?}"));
}

/// (MinSize, DesiredCapacity, MaxSize) of the group now, and its instances in service.
pub async fn group_size(cfg: &SdkConfig, name: &str) -> ((i32, i32, i32), usize) {
    let out = aws_sdk_autoscaling::Client::new(cfg)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeAutoScalingGroups {name}: {e:?}"));
    let g = out
        .auto_scaling_groups()
        .first()
        .unwrap_or_else(|| panic!("no Auto Scaling group {name}"));
    let in_service = g
        .instances()
        .iter()
        .filter(|i: &&Instance| i.lifecycle_state() == Some(&LifecycleState::InService))
        .count();
    (
        (
            g.min_size().unwrap_or(0),
            g.desired_capacity().unwrap_or(0),
            g.max_size().unwrap_or(0),
        ),
        in_service,
    )
}

/// Set the group's sizes (someone, or a scaling policy, changing them during the night).
pub async fn set_group_size(
    cfg: &SdkConfig,
    name: &str,
    min: Option<i32>,
    desired: Option<i32>,
    max: Option<i32>,
) {
    aws_sdk_autoscaling::Client::new(cfg)
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .set_min_size(min)
        .set_desired_capacity(desired)
        .set_max_size(max)
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateAutoScalingGroup {name}: {e:?}"));
}
