//! Every route the emulator serves exists in the spec of the Harbor it imitates.

use harbor_emulator::spec::{Spec, UNDOCUMENTED_ROUTES};
use harbor_emulator::{Emulator, Method, Profile};

const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/harbor-api");

#[test]
fn served_routes_exist_in_each_profiles_spec() {
    for profile in [Profile::Harbor27, Profile::Harbor28] {
        let spec = Spec::for_profile(SPEC_DIR, profile).expect("spec parses");
        assert!(
            spec.routes().len() > 200,
            "{profile:?}: {} routes",
            spec.routes().len()
        );
        let served = Emulator::served_routes_for(profile);
        assert!(!served.is_empty());
        for (method, template) in served {
            assert!(
                spec.contains(&method, template),
                "{profile:?}: {method} {template} not in spec"
            );
        }
    }
}

#[test]
fn only_api_version_is_an_exception_and_only_on_28() {
    let v27 = Spec::load(format!("{SPEC_DIR}/chartrepo-v2.7.0.yaml")).unwrap();
    let (method, path) = &UNDOCUMENTED_ROUTES[0];
    assert!(
        v27.contains(method, path),
        "2.7 documents /api/version in the chartrepo spec"
    );
    let head = Spec::load(format!("{SPEC_DIR}/swagger-head.yaml")).unwrap();
    assert!(!head.contains(method, path));
}

#[test]
fn chart_routes_are_27_only_and_spec_differs() {
    let v28 = Spec::for_profile(SPEC_DIR, Profile::Harbor28).unwrap();
    assert!(
        v28.matches(&Method::GET, "/api/chartrepo/p/charts")
            .is_none()
    );
    assert!(
        Emulator::served_routes_for(Profile::Harbor28)
            .iter()
            .all(|(_, path)| !path.starts_with("/api/chartrepo"))
    );
    let v27 = Spec::for_profile(SPEC_DIR, Profile::Harbor27).unwrap();
    assert_eq!(
        v27.matches(&Method::DELETE, "/api/chartrepo/p/charts/nginx/1.0.0"),
        Some("/api/chartrepo/{repo}/charts/{name}/{version}")
    );
}

#[test]
fn matcher_on_real_paths() {
    let spec = Spec::for_profile(SPEC_DIR, Profile::Harbor28).unwrap();
    assert_eq!(
        spec.matches(
            &Method::DELETE,
            "/api/v2.0/projects/p/repositories/a%252Fb/artifacts/sha256:ab/tags/v1"
        ),
        Some(
            "/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}"
        )
    );
    assert_eq!(
        spec.matches(&Method::GET, "/api/v2.0/projects/p/_deletable"),
        Some("/api/v2.0/projects/{project_name_or_id}/_deletable")
    );
    assert_eq!(
        spec.matches(&Method::HEAD, "/api/v2.0/projects?project_name=x"),
        Some("/api/v2.0/projects")
    );
    assert_eq!(
        spec.matches(&Method::GET, "/api/v2.0/projects/p/repositories/a/b"),
        None
    );
    assert_eq!(
        spec.matches(&Method::GET, "/api/version"),
        Some("/api/version")
    );
}

#[test]
fn served_routes_union_covers_both_profiles() {
    let all = Emulator::served_routes();
    assert!(all.contains(&(Method::GET, "/api/chartrepo/health")));
    assert!(all.contains(&(Method::HEAD, "/api/v2.0/projects")));
    assert!(all.contains(&(
        Method::DELETE,
        "/api/v2.0/projects/{project_name}/repositories/{repository_name}"
    )));
}
