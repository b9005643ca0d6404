//! The emulator itself, through the SDK versions nightshift ships with: moto plus the two bridges
//! of integration/emulator/launcher.py (CloudWatch rpc-v2-cbor, DocumentDB engine), and the moto
//! behaviours the product relies on. If one of these fails, fix the emulator before the product.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat};
use aws_sdk_docdb::operation::create_db_instance::CreateDBInstanceError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};

use crate::support::{create_docdb_cluster, create_ecs_service, sdk_config, unique};

/// The start of the current minute, minus `minutes_ago` minutes, in epoch seconds.
fn minute_start(minutes_ago: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs() as i64;
    now - now % 60 - minutes_ago * 60
}

fn metric(namespace: &str, name: &str, dimension: &str) -> Metric {
    Metric::builder()
        .namespace(namespace)
        .metric_name(name)
        .dimensions(
            Dimension::builder()
                .name("Service")
                .value(dimension)
                .build(),
        )
        .build()
}

/// GetMetricData of one metric's per-minute `stat`, as (epoch seconds, value) sorted by time
/// (AWS answers newest first by default, moto oldest first).
async fn minutely(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    metric: Metric,
    stat: &str,
    from: i64,
    to: i64,
) -> Vec<(i64, f64)> {
    let answer = cloudwatch
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("q")
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(60)
                        .stat(stat)
                        .build(),
                )
                .build(),
        )
        .start_time(DateTime::from_secs(from))
        .end_time(DateTime::from_secs(to))
        .send()
        .await
        .expect("GetMetricData through the rpc-v2-cbor bridge");
    let [result] = answer.metric_data_results() else {
        panic!("one query, one result: {answer:?}");
    };
    assert_eq!(result.id(), Some("q"));
    assert_eq!(
        result.timestamps().len(),
        result.values().len(),
        "{result:?}"
    );
    let mut points: Vec<(i64, f64)> = result
        .timestamps()
        .iter()
        .map(DateTime::secs)
        .zip(result.values().iter().copied())
        .collect();
    points.sort_by_key(|(secs, _)| *secs);
    points
}

#[tokio::test]
async fn cloudwatch_put_then_get_metric_data_with_past_timestamps_round_trips() {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config().await);
    let (namespace, service) = (unique("nightshift-test"), unique("svc"));
    let sent = [
        (minute_start(9), 1.5),
        (minute_start(7), 2.0),
        (minute_start(5), 3.25),
    ];

    cloudwatch
        .put_metric_data()
        .namespace(&namespace)
        .set_metric_data(Some(
            sent.iter()
                .map(|&(secs, value)| {
                    MetricDatum::builder()
                        .metric_name("QueueDepth")
                        .dimensions(Dimension::builder().name("Service").value(&service).build())
                        .timestamp(DateTime::from_secs(secs))
                        .value(value)
                        .build()
                })
                .collect(),
        ))
        .send()
        .await
        .expect("PutMetricData through the rpc-v2-cbor bridge");

    let points = minutely(
        &cloudwatch,
        metric(&namespace, "QueueDepth", &service),
        "Maximum",
        minute_start(12),
        minute_start(0),
    )
    .await;
    assert_eq!(points, sent);
}

#[tokio::test]
async fn cloudwatch_large_put_metric_data_is_gzipped_by_the_sdk_and_still_understood() {
    // The SDK gzips PutMetricData bodies above request_min_compression_size_bytes (10 KiB by
    // default); a low threshold makes this body compressed for sure.
    let cfg = sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&cfg)
            .request_min_compression_size_bytes(1)
            .build(),
    );
    let (namespace, service) = (unique("nightshift-test"), unique("svc"));
    let at = minute_start(3);
    let data: Vec<MetricDatum> = (1..=100_i32)
        .map(|i| {
            MetricDatum::builder()
                .metric_name("Requests")
                .dimensions(Dimension::builder().name("Service").value(&service).build())
                .timestamp(DateTime::from_secs(at + i64::from(i % 60)))
                .value(f64::from(i))
                .build()
        })
        .collect();
    cloudwatch
        .put_metric_data()
        .namespace(&namespace)
        .set_metric_data(Some(data))
        .send()
        .await
        .expect("gzipped PutMetricData");

    let points = minutely(
        &cloudwatch,
        metric(&namespace, "Requests", &service),
        "Sum",
        at - 60,
        at + 120,
    )
    .await;
    assert_eq!(points, [(at, 5050.0)]);
}

#[tokio::test]
async fn cloudwatch_errors_come_back_as_typed_service_errors() {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config().await);
    let (from, to) = (minute_start(5), minute_start(10)); // EndTime before StartTime

    let error = cloudwatch
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("q")
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric("nightshift-test", "QueueDepth", "any"))
                        .period(60)
                        .stat("Sum")
                        .build(),
                )
                .build(),
        )
        .start_time(DateTime::from_secs(from))
        .end_time(DateTime::from_secs(to))
        .send()
        .await
        .expect_err("EndTime before StartTime is invalid");

    // A decode failure would be a dispatch/response error with no service error at all.
    let service_error = error
        .as_service_error()
        .unwrap_or_else(|| panic!("not a service error: {error:?}"));
    assert_eq!(
        service_error.code(),
        Some("ValidationError"),
        "{service_error:?}"
    );
    assert!(
        service_error
            .message()
            .is_some_and(|m| m.contains("EndTime")),
        "{service_error:?}"
    );
}

#[tokio::test]
async fn docdb_cluster_instance_is_the_writer_with_engine_docdb_and_port_27017() {
    let docdb = aws_sdk_docdb::Client::new(&sdk_config().await);
    let cluster_id = unique("nightshift-test");
    let instance_id = format!("{cluster_id}-a");

    let cluster = docdb
        .create_db_cluster()
        .db_cluster_identifier(&cluster_id)
        .engine("docdb")
        .master_username("nightshift")
        .master_user_password("nightshift-test-password")
        .send()
        .await
        .expect("CreateDBCluster with Engine=docdb")
        .db_cluster
        .expect("CreateDBCluster returns the cluster");
    assert_eq!(cluster.engine(), Some("docdb"));
    assert_eq!(cluster.port(), Some(27017));

    let create_instance = || {
        docdb
            .create_db_instance()
            .db_instance_identifier(&instance_id)
            .db_cluster_identifier(&cluster_id)
            .engine("docdb")
            .db_instance_class("db.r6g.large")
            .send()
    };
    create_instance()
        .await
        .expect("CreateDBInstance with Engine=docdb");

    let clusters = docdb
        .describe_db_clusters()
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .expect("DescribeDBClusters");
    let [cluster] = clusters.db_clusters() else {
        panic!("one cluster: {clusters:?}");
    };
    let members: Vec<_> = cluster
        .db_cluster_members()
        .iter()
        .map(|m| (m.db_instance_identifier(), m.is_cluster_writer()))
        .collect();
    assert_eq!(members, [(Some(instance_id.as_str()), Some(true))]);

    let instances = docdb
        .describe_db_instances()
        .db_instance_identifier(&instance_id)
        .send()
        .await
        .expect("DescribeDBInstances");
    let [instance] = instances.db_instances() else {
        panic!("one instance: {instances:?}");
    };
    assert_eq!(instance.engine(), Some("docdb"));
    assert_eq!(instance.db_cluster_identifier(), Some(cluster_id.as_str()));
    assert_eq!(instance.endpoint().and_then(|e| e.port()), Some(27017));

    // A retried create must be recognisable as "already done".
    let again = create_instance()
        .await
        .expect_err("a second create of the same instance");
    assert!(
        matches!(
            again.as_service_error(),
            Some(CreateDBInstanceError::DbInstanceAlreadyExistsFault(_))
        ),
        "{again:?}"
    );
}

#[tokio::test]
async fn dynamodb_failed_conditional_put_returns_the_old_item_with_all_old() {
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = unique("nightshift-test");
    dynamodb
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");

    let item = |owner: &str| {
        HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S("run#2024-01-01".to_owned()),
            ),
            ("owner".to_owned(), AttributeValue::S(owner.to_owned())),
        ])
    };
    let claim = |owner: &str| {
        dynamodb
            .put_item()
            .table_name(&table)
            .set_item(Some(item(owner)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
    };
    claim("first").await.expect("the first claim wins");

    let lost = claim("second")
        .await
        .expect_err("the second claim must fail its condition");
    let Some(PutItemError::ConditionalCheckFailedException(failed)) = lost.as_service_error()
    else {
        panic!("expected ConditionalCheckFailedException: {lost:?}");
    };
    assert_eq!(failed.item(), Some(&item("first")));
}

#[tokio::test]
async fn support_helpers_create_a_docdb_writer_and_an_ecs_service() {
    let cfg = sdk_config().await;
    let cluster_id = unique("nightshift-test");
    let writer = create_docdb_cluster(&cfg, &cluster_id).await;
    let clusters = aws_sdk_docdb::Client::new(&cfg)
        .describe_db_clusters()
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .expect("DescribeDBClusters");
    let members: Vec<_> = clusters
        .db_clusters()
        .iter()
        .flat_map(|c| c.db_cluster_members())
        .map(|m| (m.db_instance_identifier(), m.is_cluster_writer()))
        .collect();
    assert_eq!(members, [(Some(writer.as_str()), Some(true))]);

    let (cluster, service) = (unique("nightshift-test"), unique("batch-api"));
    let arn = create_ecs_service(&cfg, &cluster, &service, 2).await;
    let described = aws_sdk_ecs::Client::new(&cfg)
        .describe_services()
        .cluster(&cluster)
        .services(&service)
        .send()
        .await
        .expect("DescribeServices");
    let [found] = described.services() else {
        panic!("one service: {described:?}");
    };
    assert_eq!(found.service_arn(), Some(arn.as_str()));
    assert_eq!(found.desired_count(), 2);
}

#[test]
fn unique_names_are_distinct_and_valid_everywhere_nightshift_uses_them() {
    let (a, b) = (unique("Night_Shift-7"), unique("Night_Shift-7"));
    assert_ne!(a, b);
    for name in [&a, &b] {
        assert!(name.starts_with("night-shift-7-"), "{name}");
        assert!(name.len() <= 63 - "-writer".len(), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
        assert!(!name.contains("--") && !name.ends_with('-'), "{name}");
    }
}
