//! `pcchip grads` on a linear network: the relaxed energy equals the
//! closed-form F*, the file holds every tensor, and weights round-trip.

use pcchip::circuit::{Circuit, Precision, Source};
use pcchip::net::Activation;
use pcchip::relax::Method;
use pcchip::report::tensors::read_tensors;

#[test]
fn grads_on_a_linear_network_match_the_closed_form() {
    let mut c = Circuit {
        precision: Precision::F64,
        ..Default::default()
    };
    c.network.width = 64;
    c.network.depth = 4;
    c.network.activation = Activation::Linear;
    c.data.source = Source::GaussianToy;
    c.data.teacher_samples = 20;
    c.data.test_frac = 0.0;
    c.train.batch_size = 20;
    c.relax.method = Method::Ros2;
    c.relax.rtol = 1e-6;
    c.relax.atol = 1e-9;
    c.relax.residual_tol = 1e-9;
    c.relax.t_max_tau = 1e6;
    let dir = std::env::temp_dir().join(format!("pcchip-grads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("g.safetensors");
    let g = pcchip::grads::grads(&c, ".".as_ref(), None, None, &out).unwrap();
    let f_star = g.energy_closed_form.expect("linear MSE network");
    assert!(
        (g.energy - f_star).abs() < 1e-8 * f_star,
        "F = {} vs F* = {f_star}",
        g.energy
    );
    assert!(g.cos_global > 0.98, "N/L = 16: cosine {}", g.cos_global);
    let t = read_tensors::<f64>(&out).unwrap();
    let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "pc.W1",
        "pc.W4",
        "bp.W1",
        "bp.W4",
        "energy",
        "loss",
        "energy_closed_form",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let w4 = &t.iter().find(|(n, _)| n == "bp.W4").unwrap().1;
    assert_eq!(w4.shape(), (1, 64), "[n_out, n_in]");
    std::fs::remove_dir_all(&dir).ok();
}
