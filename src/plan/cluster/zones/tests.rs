use crate::plan::fixtures::*;

use super::*;

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

/// Cluster `db` over the first `k` zones, the writer in the first.
fn cluster(k: usize) -> ClusterState {
    let mut snap = snapshot_with(1, None, &[]);
    let mut c = snap.clusters.remove(0);
    c.zones = ZONES[..k].iter().map(|z| z.to_string()).collect();
    c.instances[0].zone = Some(ZONES[0].into());
    c
}

fn tally(c: &ClusterState) -> Vec<usize> {
    c.zones
        .iter()
        .map(|z| c.live().filter(|i| i.zone.as_ref() == Some(z)).count())
        .collect()
}

fn add(c: &mut ClusterState, zones: Vec<Option<String>>) {
    let first = c.instances.len();
    for (n, zone) in zones.into_iter().enumerate() {
        let mut r = managed(
            &reader_id(u32::try_from(first + n).unwrap()),
            false,
            "db.r6g.large",
            RUN,
        );
        r.zone = zone;
        c.instances.push(r);
    }
}

#[test]
fn added_readers_spread_evenly_over_one_to_three_zones_the_writers_zone_last() {
    for k in 1..=3 {
        for n in 0..=15 {
            let mut c = cluster(k);
            let zones = assign(&c, n);
            assert_eq!(zones.len(), n);
            assert!(zones
                .iter()
                .all(|z| z.as_ref().is_some_and(|z| c.zones.contains(z))));
            add(&mut c, zones);
            let counts = tally(&c);
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(max - min <= 1, "{k} zones, {n} readers: {counts:?}");
            assert_eq!(
                counts[0],
                (*min).max(1),
                "writer's zone filled last: {k} zones, {n} readers: {counts:?}"
            );
            assert_eq!(counts.iter().sum::<usize>(), n + 1);
        }
    }
}

#[test]
fn spread_after_three_and_five_readers_over_three_zones() {
    for (n, expected) in [
        (3, "us-east-1a 1, us-east-1b 2, us-east-1c 1"),
        (5, "us-east-1a 2, us-east-1b 2, us-east-1c 2"),
    ] {
        let mut c = cluster(3);
        let zones = assign(&c, n);
        add(&mut c, zones);
        println!(
            "{n} readers over 3 zones (writer in us-east-1a): {}",
            spread(&c)
        );
        assert_eq!(spread(&c), expected);
    }
}

#[test]
fn existing_instances_count_and_new_readers_fill_the_emptiest_zones_first() {
    let mut c = cluster(3);
    let mut own = instance("own-1", false, "db.r6g.large");
    own.zone = Some("us-east-1b".into());
    c.instances.push(own);
    let zones = assign(&c, 1);
    assert_eq!(zones, [Some("us-east-1c".to_string())]);
    assert_eq!(preference(&c), ["us-east-1c", "us-east-1b", "us-east-1a"]);
    // A cluster that lists no zones: AWS picks.
    let mut none = cluster(3);
    none.zones.clear();
    assert_eq!(assign(&none, 2), [None, None]);
}

#[test]
fn removal_keeps_the_remaining_spread_even_at_every_step() {
    for k in 1..=3 {
        for n in 0..=15 {
            let mut c = cluster(k);
            let zones = assign(&c, n);
            add(&mut c, zones);
            let ours: Vec<InstanceState> = c.readers().cloned().collect();
            let refs: Vec<&InstanceState> = ours.iter().collect();
            let order: Vec<String> = removal_order(&c, &refs)
                .iter()
                .map(|r| r.id.clone())
                .collect();
            assert_eq!(order.len(), n);
            for id in order {
                c.instances.retain(|i| i.id != id);
                let counts = tally(&c);
                let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                assert!(
                    max - min <= 1,
                    "{k} zones, {n} readers, after removing {id}: {counts:?}"
                );
            }
        }
    }
}

#[test]
fn a_reader_of_unknown_zone_is_removed_first() {
    let mut c = cluster(2);
    add(&mut c, vec![Some("us-east-1b".into()), None]);
    let ours: Vec<InstanceState> = c.readers().cloned().collect();
    let refs: Vec<&InstanceState> = ours.iter().collect();
    let order = removal_order(&c, &refs);
    assert_eq!(order[0].zone, None);
}
