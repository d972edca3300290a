use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::spend::clock::{days_from_civil, MICROS_PER_DAY, MICROS_PER_SECOND};

const NOW: Micros = 1_700_000_000 * MICROS_PER_SECOND;

fn meta(v: serde_json::Value) -> CallMetadata {
    CallMetadata::from_map(v.as_object().cloned().unwrap())
}

fn names() -> ModelNames<'static> {
    ModelNames {
        requested: "gpt-4o",
        provider: "openai",
        model: "gpt-4o",
    }
}

fn registry_with(spec: BudgetSpec, now: Micros) -> Arc<BudgetRegistry> {
    let r = Arc::new(BudgetRegistry::default());
    r.add(spec, now, &HashMap::new()).unwrap();
    r
}

fn admit(
    r: &Arc<BudgetRegistry>,
    m: &CallMetadata,
    projected: f64,
    now: Micros,
) -> Result<Option<Reservation>, LlmError> {
    match r.admit(now, Some(m), names(), projected, true)? {
        Admission::Admitted(res) => Ok(res),
        Admission::Downgrade { to, .. } => panic!("unexpected downgrade to {to}"),
    }
}

#[test]
fn block_counts_reservations_of_calls_in_flight() {
    let r = registry_with(
        BudgetSpec::new(Scope::User, Some("alice"), 1.0, Period::Daily),
        NOW,
    );
    let alice = meta(json!({"user": "alice"}));
    let held: Vec<Reservation> = (0..20)
        .map(|_| admit(&r, &alice, 0.05, NOW).unwrap().unwrap())
        .collect();
    let err = admit(&r, &alice, 0.05, NOW).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BudgetExceeded);
    assert!(err.message.contains("user 'alice'"), "{}", err.message);
    assert!(err.message.contains("resets at"), "{}", err.message);
    let body = err.body.clone().unwrap();
    assert_eq!(body["max_budget"], json!(1.0));
    assert_eq!(body["budget"], json!("user:alice:daily"));
    // Another user is not affected.
    assert!(admit(&r, &meta(json!({"user": "bob"})), 5.0, NOW)
        .unwrap()
        .is_none());
    for h in held {
        h.settle_at(0.05, NOW);
    }
    let s = &r.status(NOW)[0];
    assert!(
        (s.spent - 1.0).abs() < 1e-12 && s.reserved.abs() < 1e-12,
        "{s:?}"
    );
    // Exhausted: even a free call is refused.
    assert!(admit(&r, &alice, 0.0, NOW).is_err());
}

#[test]
fn dropping_a_reservation_releases_it_without_charging() {
    let r = registry_with(
        BudgetSpec::new(Scope::Global, None, 1.0, Period::Total),
        NOW,
    );
    let m = CallMetadata::default();
    let a = admit(&r, &m, 0.6, NOW).unwrap().unwrap();
    assert!(admit(&r, &m, 0.6, NOW).is_err());
    drop(a);
    let b = admit(&r, &m, 0.6, NOW).unwrap().unwrap();
    b.settle_at(0.1, NOW);
    // Settling twice charges twice but releases once.
    b.settle_at(0.1, NOW);
    let s = &r.status(NOW)[0];
    assert!(
        (s.spent - 0.2).abs() < 1e-12 && s.reserved.abs() < 1e-12,
        "{s:?}"
    );
}

#[test]
fn concurrent_admissions_never_overshoot_by_more_than_estimate_error() {
    for (actual_factor, label) in [(1.0, "exact"), (1.5, "under-estimated")] {
        let r = registry_with(
            BudgetSpec::new(Scope::Global, None, 1.0, Period::Total),
            NOW,
        );
        let projected = 0.05;
        let threads: Vec<_> = (0..200)
            .map(|i| {
                let r = r.clone();
                std::thread::spawn(move || {
                    let m = CallMetadata::default();
                    match admit(&r, &m, projected, NOW) {
                        Ok(Some(res)) => {
                            std::thread::sleep(std::time::Duration::from_millis(1 + i % 3));
                            res.settle_at(projected * actual_factor, NOW);
                            true
                        }
                        Ok(None) => unreachable!(),
                        Err(_) => false,
                    }
                })
            })
            .collect();
        let admitted = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        let spent = r.status(NOW)[0].spent;
        let max_overshoot = admitted as f64 * projected * (actual_factor - 1.0);
        assert!(admitted <= 20, "{label}: {admitted}");
        assert!(admitted >= 1, "{label}");
        assert!(
            spent <= 1.0 + max_overshoot + 1e-9,
            "{label}: spent {spent}, admitted {admitted}"
        );
        if actual_factor == 1.0 {
            assert!(spent <= 1.0 + 1e-9);
        }
    }
}

#[test]
fn downgrade_then_block_on_the_cheaper_model() {
    let mut spec = BudgetSpec::new(Scope::Project, Some("p"), 1.0, Period::Monthly);
    spec.actions = vec![
        Action::Downgrade {
            at: 0.5,
            to: DowngradeTo {
                map: vec![("gpt-4o".into(), "gpt-4o-mini".into())],
                default: None,
            },
        },
        Action::Block { at: 1.0 },
    ];
    let r = registry_with(spec, NOW);
    let p = meta(json!({"project": "p"}));
    assert_eq!(r.applies_to(Some(&p)), Some(true));
    admit(&r, &p, 0.4, NOW)
        .unwrap()
        .unwrap()
        .settle_at(0.4, NOW);
    // 0.4 + 0.2 > 0.5: downgrade.
    match r.admit(NOW, Some(&p), names(), 0.2, true).unwrap() {
        Admission::Downgrade { to, budget } => {
            assert_eq!(to, "gpt-4o-mini");
            assert_eq!(budget, "project:p:monthly");
        }
        other => panic!("{other:?}"),
    }
    // The cheaper model is admitted without downgrade.
    let mini = ModelNames {
        requested: "gpt-4o-mini",
        provider: "openai",
        model: "gpt-4o-mini",
    };
    assert!(matches!(
        r.admit(NOW, Some(&p), mini, 0.01, true).unwrap(),
        Admission::Admitted(Some(_))
    ));
    // A model with no mapping is not downgraded; it is blocked only past the limit.
    let other = ModelNames {
        requested: "claude",
        provider: "anthropic",
        model: "claude",
    };
    assert!(matches!(
        r.admit(NOW, Some(&p), other, 0.2, true).unwrap(),
        Admission::Admitted(Some(_))
    ));
    let res = r.admit(NOW, Some(&p), other, 0.7, true);
    assert!(res.is_err(), "{res:?} {:?}", r.status(NOW));
}

#[test]
fn alerts_fire_once_per_threshold_per_period() {
    let mut spec = BudgetSpec::new(Scope::Tag, Some("summarize"), 1.0, Period::Daily);
    spec.actions = vec![
        Action::Alert { at: 0.8 },
        Action::Alert { at: 1.0 },
        Action::Block { at: 1.0 },
    ];
    let r = registry_with(spec, NOW);
    let m = meta(json!({"tags": ["summarize", "x"]}));
    let spend = |cost: f64, now: Micros| {
        admit(&r, &m, cost, now)
            .unwrap()
            .unwrap()
            .settle_at(cost, now);
    };
    spend(0.5, NOW);
    assert!(r.take_alerts().is_empty());
    spend(0.3, NOW);
    let a = r.take_alerts();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].threshold, 0.8);
    assert_eq!(a[0].member, "summarize");
    assert!((a[0].spent - 0.8).abs() < 1e-12);
    spend(0.1, NOW);
    assert!(r.take_alerts().is_empty());
    spend(0.1, NOW);
    let a = r.take_alerts();
    assert_eq!(a.iter().map(|e| e.threshold).collect::<Vec<_>>(), vec![1.0]);
    // The next day starts over, and alerts can fire again.
    let tomorrow = Period::Daily.window(0, NOW).1;
    spend(0.9, tomorrow);
    assert_eq!(r.take_alerts().len(), 1);
}

#[test]
fn period_resets_exactly_at_the_boundary() {
    let day = days_from_civil(2025, 3, 31);
    let start = day * MICROS_PER_DAY + 10 * 3600 * MICROS_PER_SECOND;
    let midnight = (day + 1) * MICROS_PER_DAY;
    let r = registry_with(
        BudgetSpec::new(Scope::User, None, 1.0, Period::Daily),
        start,
    );
    let u = meta(json!({"user": "carol"}));
    admit(&r, &u, 1.0, start)
        .unwrap()
        .unwrap()
        .settle_at(1.0, start);
    assert!(admit(&r, &u, 0.01, midnight - 1).is_err());
    assert!(admit(&r, &u, 0.01, midnight).unwrap().is_some());

    // Fixed windows count from the budget's start.
    let r = registry_with(
        BudgetSpec::new(Scope::Global, None, 1.0, Period::parse("1h").unwrap()),
        start,
    );
    let m = CallMetadata::default();
    admit(&r, &m, 1.0, start)
        .unwrap()
        .unwrap()
        .settle_at(1.0, start);
    let hour = 3600 * MICROS_PER_SECOND;
    assert!(admit(&r, &m, 0.01, start + hour - 1).is_err());
    assert!(admit(&r, &m, 0.01, start + hour).unwrap().is_some());
    let s = &r.status(start + hour)[0];
    assert_eq!(
        (s.window_start, s.window_end),
        (start + hour, start + 2 * hour)
    );
}

#[test]
fn reservations_carry_over_a_reset() {
    let r = registry_with(
        BudgetSpec::new(Scope::Global, None, 1.0, Period::Daily),
        NOW,
    );
    let m = CallMetadata::default();
    let held = admit(&r, &m, 0.7, NOW).unwrap().unwrap();
    let tomorrow = Period::Daily.window(0, NOW).1;
    // In flight across midnight: still held in the new day.
    assert!(admit(&r, &m, 0.7, tomorrow).is_err());
    held.settle_at(0.7, tomorrow);
    let s = &r.status(tomorrow)[0];
    assert!((s.spent - 0.7).abs() < 1e-12 && s.reserved.abs() < 1e-12);
}

#[test]
fn per_member_budgets_and_seeding() {
    let r = Arc::new(BudgetRegistry::default());
    let seed = HashMap::from([("dave".to_owned(), 0.95)]);
    r.add(
        BudgetSpec::new(Scope::User, None, 1.0, Period::Daily),
        NOW,
        &seed,
    )
    .unwrap();
    assert!(admit(&r, &meta(json!({"user": "dave"})), 0.1, NOW).is_err());
    assert!(admit(&r, &meta(json!({"user": "erin"})), 0.1, NOW)
        .unwrap()
        .is_some());
    assert_eq!(r.applies_to(None), None);
    assert_eq!(r.applies_to(Some(&meta(json!({"user": "x"})))), Some(false));
    // A call with no user is not counted by a user budget.
    assert!(admit(&r, &CallMetadata::default(), 5.0, NOW)
        .unwrap()
        .is_none());
    let members: Vec<String> = r.status(NOW).into_iter().map(|s| s.member).collect();
    assert_eq!(members, vec!["dave", "erin"]);
    assert!(r.reset("user:*:daily", Some("dave")));
    assert!(admit(&r, &meta(json!({"user": "dave"})), 0.1, NOW)
        .unwrap()
        .is_some());
    assert!(r.remove("user:*:daily"));
    assert!(!r.is_active());
}

#[test]
fn invalid_specs_are_rejected() {
    let r = BudgetRegistry::default();
    let mut spec = BudgetSpec::new(Scope::Global, None, -1.0, Period::Daily);
    assert!(r.add(spec.clone(), NOW, &HashMap::new()).is_err());
    spec.limit = 1.0;
    spec.actions = vec![Action::Alert { at: 0.0 }];
    assert!(r.add(spec, NOW, &HashMap::new()).is_err());
}

#[test]
fn projection_uses_max_tokens_or_the_default() {
    let mut req = ChatRequest::new("gpt-4o", vec![crate::types::Message::user("hello there")]);
    let info = crate::catalog::model_info("openai", "gpt-4o").unwrap();
    let (inp, out) = (
        info.input_cost_per_token.unwrap(),
        info.output_cost_per_token.unwrap(),
    );
    let prompt = crate::tokens::count_request_tokens("openai", "gpt-4o", &req) as f64;
    let p = projected_cost("openai", "gpt-4o", &req, None);
    assert!((p - (prompt * inp + 1024.0 * out)).abs() < 1e-12, "{p}");
    req.params.max_tokens = Some(10);
    req.params.n = Some(2);
    let p = projected_cost("openai", "gpt-4o", &req, None);
    assert!((p - (prompt * inp + 20.0 * out)).abs() < 1e-12, "{p}");
    assert_eq!(projected_cost("groq", "no-such-model", &req, None), 0.0);
}

#[test]
fn seeding_counts_the_current_window_only() {
    use crate::spend::tests::record;
    let ledger = crate::spend::Ledger::new();
    let day_start = Period::Daily.window(0, NOW).0;
    ledger.record(record(
        "m",
        0.3,
        meta(json!({"user": "fay"})),
        day_start + 5,
    ));
    ledger.record(record(
        "m",
        0.2,
        meta(json!({"user": "gus"})),
        day_start + 6,
    ));
    ledger.record(record(
        "m",
        9.0,
        meta(json!({"user": "fay"})),
        day_start - 1,
    ));
    let spec = BudgetSpec::new(Scope::User, None, 1.0, Period::Daily);
    let seed = seed_from_ledger(&spec, NOW, &ledger).unwrap();
    assert_eq!(seed.len(), 2);
    assert!((seed["fay"] - 0.3).abs() < 1e-12);
    let total = BudgetSpec::new(Scope::Global, None, 1.0, Period::Total);
    assert!(seed_from_ledger(&total, NOW, &ledger).unwrap().is_empty());
}

#[test]
fn updating_a_budget_keeps_its_spend_and_reservations() {
    let r = registry_with(
        BudgetSpec::new(Scope::Global, None, 1.0, Period::Daily),
        NOW,
    );
    let m = CallMetadata::default();
    let held = admit(&r, &m, 0.4, NOW).unwrap().unwrap();
    admit(&r, &m, 0.3, NOW)
        .unwrap()
        .unwrap()
        .settle_at(0.3, NOW);
    // Lowering the limit keeps both the settled spend and the call in flight.
    let mut lower = BudgetSpec::new(Scope::Global, None, 0.6, Period::Daily);
    lower.name = "global:daily".to_owned();
    r.update(lower, NOW).unwrap();
    let s = &r.status(NOW)[0];
    assert_eq!((s.limit, s.spent), (0.6, 0.3));
    assert!((s.reserved - 0.4).abs() < 1e-12, "{s:?}");
    assert!(admit(&r, &m, 0.0, NOW).is_err(), "0.3 + 0.4 > 0.6");
    held.settle_at(0.1, NOW);
    assert!(admit(&r, &m, 0.1, NOW).is_ok());
    // Setting the spend (an admin's correction) replaces it.
    assert!(r.set_spent("global:daily", "", 0.0, NOW));
    assert_eq!(r.status(NOW)[0].spent, 0.0);
    assert!(!r.set_spent("nope", "", 1.0, NOW));
    // Updating a budget that does not exist adds it.
    r.update(
        BudgetSpec::new(Scope::User, Some("x"), 2.0, Period::Total),
        NOW,
    )
    .unwrap();
    assert_eq!(r.specs().len(), 2);
}

#[test]
fn updating_a_budget_to_another_period_moves_its_windows() {
    let r = registry_with(
        BudgetSpec::new(Scope::Global, None, 1.0, Period::Total),
        NOW,
    );
    let m = CallMetadata::default();
    admit(&r, &m, 0.0, NOW)
        .unwrap()
        .unwrap()
        .settle_at(1.0, NOW);
    assert!(admit(&r, &m, 0.0, NOW).is_err());
    let mut daily = BudgetSpec::new(Scope::Global, None, 1.0, Period::Daily);
    daily.name = "global:total".to_owned();
    r.update(daily, NOW).unwrap();
    assert!(admit(&r, &m, 0.0, NOW).is_err(), "today's spend is kept");
    assert!(
        admit(&r, &m, 0.0, NOW + MICROS_PER_DAY).unwrap().is_some(),
        "tomorrow starts again"
    );
}
