//! Client → JSON → server with the `grr` plugin.

use mosaic_ldp::{
    FrequencyOracleBox, LdpClient, LdpError, LdpServer, ParamMap, ReportBatch, RngSeed,
};

fn params(epsilon: f64, k: i64) -> ParamMap {
    ParamMap::new()
        .with("epsilon", epsilon)
        .with("domain_size", k)
}

fn raw_oracle(p: &ParamMap) -> FrequencyOracleBox {
    let m = mosaic_plugin_ldp_basic::plugin_module();
    (m.new_ldp_oracle())("grr".into(), p).into_result().unwrap()
}

#[test]
fn client_json_server_round_trip_equals_direct_aggregation() {
    let m = mosaic_plugin_ldp_basic::plugin_module();
    let p = params(1.3, 6);
    let client = LdpClient::from_module(m, "grr", &p).unwrap();
    let mut server = LdpServer::from_module(m, "grr", &p).unwrap();
    assert_eq!(client.domain_size(), 6);

    // Two batches from two seeds, each through JSON.
    let values_a: Vec<u64> = (0..700).map(|i| (i * i) % 6).collect();
    let values_b: Vec<u64> = (0..300).map(|i| i % 4).collect();
    let seed_a = RngSeed::from_u64(11);
    let seed_b = RngSeed::from_u64(12);
    for (values, seed) in [(&values_a, seed_a), (&values_b, seed_b)] {
        let json = client.perturb(values, seed).unwrap().to_json();
        let batch = ReportBatch::from_json(&json).unwrap();
        assert_eq!(batch.len(), values.len());
        server.ingest(&batch).unwrap();
    }
    assert_eq!(server.report_count(), 1000);
    let via_json = server.estimate().unwrap();

    // Directly, through the ABI, with no JSON and no client/server types.
    let o = raw_oracle(&p);
    let mut state = vec![0.0; 6];
    for (values, seed) in [(&values_a, seed_a), (&values_b, seed_b)] {
        let r = o
            .perturb(values.as_slice().into(), seed)
            .into_result()
            .unwrap();
        o.aggregate(&r, state.as_mut_slice().into())
            .into_result()
            .unwrap();
    }
    let direct = o
        .estimate(state.as_slice().into(), 1000)
        .into_result()
        .unwrap();
    assert_eq!(server.state(), state.as_slice());
    assert_eq!(via_json, direct);
    assert!(direct.variance > 0.0);
}

#[test]
fn parameters_survive_json_exactly() {
    let m = mosaic_plugin_ldp_basic::plugin_module();
    // An ε with a long binary expansion must compare equal after the trip.
    let p = params(0.1 + 0.2, 3);
    let client = LdpClient::from_module(m, "grr", &p).unwrap();
    let mut server = LdpServer::from_module(m, "grr", &p).unwrap();
    let batch = client.perturb(&[0, 1, 2], RngSeed::from_u64(1)).unwrap();
    let back = ReportBatch::from_json(&batch.to_json()).unwrap();
    assert_eq!(back, batch);
    server.ingest(&back).unwrap();
}

#[test]
fn a_batch_from_another_oracle_or_parameters_is_refused_naming_both() {
    let m = mosaic_plugin_ldp_basic::plugin_module();
    let client = LdpClient::from_module(m, "grr", &params(1.0, 4)).unwrap();
    let mut server = LdpServer::from_module(m, "grr", &params(2.0, 4)).unwrap();
    let batch = client.perturb(&[0, 1, 2, 3], RngSeed::from_u64(5)).unwrap();
    let e = server.ingest(&batch).unwrap_err();
    assert!(matches!(e, LdpError::Mismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("epsilon = 1") && msg.contains("epsilon = 2"),
        "{msg}"
    );

    let mut renamed = batch.clone();
    renamed.oracle = "oue".into();
    let mut same = LdpServer::from_module(m, "grr", &params(1.0, 4)).unwrap();
    let msg = same.ingest(&renamed).unwrap_err().to_string();
    assert!(msg.contains("`oue`") && msg.contains("`grr`"), "{msg}");
    assert_eq!(same.report_count(), 0);
    same.ingest(&batch).unwrap();
    assert_eq!(same.report_count(), 4);
}

#[test]
fn bad_batches_and_values_are_errors_and_leave_the_server_unchanged() {
    let m = mosaic_plugin_ldp_basic::plugin_module();
    let p = params(1.0, 4);
    let client = LdpClient::from_module(m, "grr", &p).unwrap();
    let e = client.perturb(&[1, 7], RngSeed::from_u64(0)).unwrap_err();
    assert!(
        e.to_string().contains("value 7") && e.to_string().contains("`grr`"),
        "{e}"
    );

    let mut server = LdpServer::from_module(m, "grr", &p).unwrap();
    let mut batch = client.perturb(&[0, 1, 2], RngSeed::from_u64(0)).unwrap();
    batch.data[2] = 99;
    let e = server.ingest(&batch).unwrap_err();
    assert!(e.to_string().contains("value 99"), "{e}");
    batch.report_len = 2;
    assert!(matches!(
        server.ingest(&batch).unwrap_err(),
        LdpError::MalformedBatch(_)
    ));
    assert_eq!(server.report_count(), 0);
    assert_eq!(server.state(), [0.0; 4]);
    assert!(matches!(
        ReportBatch::from_json("{\"oracle\": 3}").unwrap_err(),
        LdpError::Json(_)
    ));
}

#[test]
fn defaults_are_resolved_and_unknown_oracles_named() {
    let m = mosaic_plugin_ldp_basic::plugin_module();
    let e = LdpClient::from_module(m, "olh", &params(1.0, 4))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("`olh`") && e.to_string().contains("ldp-basic"),
        "{e}"
    );
    let e = LdpServer::from_module(m, "grr", &ParamMap::new().with("epsilon", 1.0))
        .err()
        .unwrap();
    assert!(e.to_string().contains("`domain_size`"), "{e}");
    // An integer ε is widened to a real when resolved, so it matches a real one.
    let client = LdpClient::from_module(
        m,
        "grr",
        &ParamMap::new()
            .with("epsilon", 1i64)
            .with("domain_size", 4i64),
    )
    .unwrap();
    let mut server = LdpServer::from_module(m, "grr", &params(1.0, 4)).unwrap();
    server
        .ingest(&client.perturb(&[3], RngSeed::from_u64(2)).unwrap())
        .unwrap();
}
