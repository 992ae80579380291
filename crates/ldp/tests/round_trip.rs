//! Client → wire (JSON and binary) → servers → merged state, with the `grr` plugin.

use mosaic_ldp::{
    LdpClient, LdpError, LdpServer, Oracle, ParamMap, ReportBatch, RngSeed, ServerState,
};

fn params(epsilon: f64, k: i64) -> ParamMap {
    ParamMap::new()
        .with("epsilon", epsilon)
        .with("domain_size", k)
}

fn module() -> mosaic_ldp::PluginModRef {
    mosaic_plugin_ldp_basic::plugin_module()
}

#[test]
fn client_wire_server_round_trip_equals_direct_aggregation() {
    let p = params(1.3, 6);
    let client = LdpClient::from_module(module(), "grr", &p).unwrap();
    let mut a = LdpServer::from_module(module(), "grr", &p).unwrap();
    let mut b = LdpServer::from_module(module(), "grr", &p).unwrap();
    assert_eq!(client.domain_size(), 6);

    // Two batches from two seeds: one through JSON to server a, one through binary to b.
    let values_a: Vec<u64> = (0..700).map(|i| (i * i) % 6).collect();
    let values_b: Vec<u64> = (0..300).map(|i| i % 4).collect();
    let (seed_a, seed_b) = (RngSeed::from_u64(11), RngSeed::from_u64(12));
    let json = client.perturb(&values_a, seed_a).unwrap().to_json();
    a.ingest(&ReportBatch::from_json(&json).unwrap()).unwrap();
    let bin = client.perturb(&values_b, seed_b).unwrap().to_binary();
    // 300 reports of 3 bits: 113 bytes of payload.
    assert!(bin.len() < 113 + 200, "{} bytes", bin.len());
    b.ingest(&ReportBatch::from_binary(&bin).unwrap()).unwrap();
    // Server b's state travels (binary) and merges into a.
    let saved = b.save().to_binary();
    let back = ServerState::read_binary(&mut saved.as_slice())
        .unwrap()
        .unwrap();
    a.merge_saved(back).unwrap();
    assert_eq!(a.report_count(), 1000);
    let via_wire = a.estimate().unwrap();

    // Directly, one batch of everything.
    let o = Oracle::from_module(module(), "grr", &p).unwrap();
    let mut all = o.perturb(&values_a, seed_a).unwrap();
    let rb = o.perturb(&values_b, seed_b).unwrap();
    let mut data = all.data.to_vec();
    data.extend_from_slice(&rb.data);
    all.data = data.into();
    let state = o.aggregate(&all).unwrap();
    assert_eq!(a.state(), &state);
    assert_eq!(via_wire, o.estimate(&state).unwrap());
}

#[test]
fn parameters_survive_json_exactly() {
    // An ε with a long binary expansion must compare equal after the trip.
    let p = params(0.1 + 0.2, 3);
    let client = LdpClient::from_module(module(), "grr", &p).unwrap();
    let mut server = LdpServer::from_module(module(), "grr", &p).unwrap();
    let batch = client.perturb(&[0, 1, 2], RngSeed::from_u64(1)).unwrap();
    let back = ReportBatch::from_json(&batch.to_json()).unwrap();
    assert_eq!(back, batch);
    server.ingest(&back).unwrap();
    let back = ReportBatch::from_binary(&batch.to_binary()).unwrap();
    server.ingest(&back).unwrap();
}

#[test]
fn a_batch_or_state_from_another_oracle_is_refused_naming_both() {
    let client = LdpClient::from_module(module(), "grr", &params(1.0, 4)).unwrap();
    let mut server = LdpServer::from_module(module(), "grr", &params(2.0, 4)).unwrap();
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
    let mut same = LdpServer::from_module(module(), "grr", &params(1.0, 4)).unwrap();
    let msg = same.ingest(&renamed).unwrap_err().to_string();
    assert!(msg.contains("`oue`") && msg.contains("`grr`"), "{msg}");
    assert_eq!(same.report_count(), 0);
    same.ingest(&batch).unwrap();
    assert_eq!(same.report_count(), 4);
    let e = server.merge_saved(same.save()).unwrap_err().to_string();
    assert!(
        e.contains("server state") && e.contains("epsilon = 1"),
        "{e}"
    );
}

#[test]
fn bad_batches_are_errors_and_leave_the_server_unchanged() {
    let p = params(1.0, 4);
    let client = LdpClient::from_module(module(), "grr", &p).unwrap();
    let mut server = LdpServer::from_module(module(), "grr", &p).unwrap();
    let mut batch = client.perturb(&[0, 1, 2], RngSeed::from_u64(0)).unwrap();
    batch.data[2] = 3 | 8;
    let e = server.ingest(&batch).unwrap_err();
    assert!(e.to_string().contains("report 2"), "{e}");
    batch.report_len = 2;
    assert!(matches!(
        server.ingest(&batch).unwrap_err(),
        LdpError::Malformed { .. }
    ));
    assert_eq!(server.report_count(), 0);
    assert!(server.state().words.iter().all(|&w| w == 0));
    assert!(matches!(
        ReportBatch::from_json("{\"oracle\": 3}").unwrap_err(),
        LdpError::Json(_)
    ));
}

#[test]
fn defaults_are_resolved_and_unknown_oracles_named() {
    let e = LdpClient::from_module(module(), "olh", &params(1.0, 4))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("`olh`") && e.to_string().contains("ldp-basic"),
        "{e}"
    );
    let e = LdpServer::from_module(module(), "grr", &ParamMap::new().with("epsilon", 1.0))
        .err()
        .unwrap();
    assert!(e.to_string().contains("`domain_size`"), "{e}");
    // An integer ε is widened to a real when resolved, so it matches a real one.
    let client = LdpClient::from_module(
        module(),
        "grr",
        &ParamMap::new()
            .with("epsilon", 1i64)
            .with("domain_size", 4i64),
    )
    .unwrap();
    let mut server = LdpServer::from_module(module(), "grr", &params(1.0, 4)).unwrap();
    server
        .ingest(&client.perturb(&[3], RngSeed::from_u64(2)).unwrap())
        .unwrap();
}
