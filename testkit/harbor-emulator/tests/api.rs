//! Harbor's REST behaviour over real HTTP.

mod common;

use common::{ADMIN, Api, DEV, code, message, parts, start, start_with};
use harbor_emulator::{CreationRestriction, EmulatorConfig, Profile, UserAccount};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_response_has_request_id_and_sid_cookie_and_errors_have_harbor_shape() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let response = api
        .get("/api/v2.0/projects/nope")
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("sid=") && cookie.ends_with("; Path=/; HttpOnly"),
        "{cookie}"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert_eq!(
        text,
        "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"project nope not found\"}]}\n"
    );

    // A client-chosen request id is echoed.
    let response = api
        .get("/api/v2.0/ping")
        .header("x-request-id", "mine")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "mine");
}

#[tokio::test]
async fn sid_cookie_makes_unsafe_methods_fail_csrf() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let body = json!({"project_name": "p1"});
    let response = api
        .admin(Method::POST, "/api/v2.0/projects")
        .header("cookie", "sid=made-up")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, body_json) = parts(response).await;
    assert_eq!(status, 403);
    assert_eq!(code(&body_json), "FORBIDDEN");
    assert_eq!(message(&body_json), "CSRF token invalid");
    assert!(emu.project("p1").is_none(), "nothing was created");
    // A GET with the cookie is fine.
    let response = api
        .admin(Method::GET, "/api/v2.0/projects")
        .header("cookie", "sid=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(emu.calls().iter().any(|c| c.had_cookie));
}

#[tokio::test]
async fn anonymous_versus_admin() {
    let emu = start(Profile::Harbor28).await;
    emu.create_project("open", true);
    emu.create_project("closed", false);
    let api = Api::new(&emu);

    // Wrong password = anonymous: public projects only.
    let response = api
        .as_user(Method::GET, "/api/v2.0/projects", ("admin", "wrong"))
        .send()
        .await
        .unwrap();
    let (status, list) = parts(response).await;
    assert_eq!(status, 200);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["library", "open"]);

    let (status, _) = parts(
        api.anonymous(Method::GET, "/api/v2.0/projects/open")
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    for path in ["/api/v2.0/projects/closed", "/api/v2.0/projects/missing"] {
        let (status, body) = parts(api.anonymous(Method::GET, path).send().await.unwrap()).await;
        assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"), "{path}");
    }
    let (status, body) = parts(
        api.anonymous(Method::POST, "/api/v2.0/projects")
            .json(&json!({"project_name": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, message(&body)), (401, "unauthorized"));
    let (status, _) = parts(
        api.anonymous(Method::DELETE, "/api/v2.0/projects/open")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = parts(
        api.anonymous(Method::HEAD, "/api/v2.0/projects?project_name=open")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);

    let (status, _) = parts(
        api.anonymous(Method::GET, "/api/v2.0/users/current/permissions")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, perms) = parts(
        api.admin(Method::GET, "/api/v2.0/users/current/permissions")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(perms.is_array());

    // Admin sees everything.
    let (_, list) = parts(
        api.admin(Method::GET, "/api/v2.0/projects")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn non_admin_user_gets_403_and_creation_restriction() {
    let emu = start_with(EmulatorConfig {
        user: Some(UserAccount::new(DEV.0, DEV.1)),
        project_creation_restriction: CreationRestriction::AdminOnly,
        ..EmulatorConfig::default()
    })
    .await;
    emu.create_project("closed", false);
    let api = Api::new(&emu);
    for path in ["/api/v2.0/projects/missing", "/api/v2.0/projects/closed"] {
        let (status, body) = parts(api.as_user(Method::GET, path, DEV).send().await.unwrap()).await;
        assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{path}");
    }
    let (status, _) = parts(
        api.as_user(Method::POST, "/api/v2.0/projects", DEV)
            .json(&json!({"project_name": "mine"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);

    // With the default restriction the user may create, and owns, projects.
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let response = api
        .as_user(Method::POST, "/api/v2.0/projects", DEV)
        .json(&json!({"project_name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(emu.project("mine").unwrap().owner_name, "dev");
    let (status, _) = parts(
        api.as_user(Method::DELETE, "/api/v2.0/projects/mine", DEV)
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn create_project_validation_and_location() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let post = |body: serde_json::Value| {
        api.admin(Method::POST, "/api/v2.0/projects")
            .json(&body)
            .send()
    };

    let response = post(json!({"project_name": "alpha", "metadata": {"public": "true"}}))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = emu.project("alpha").unwrap().id;
    assert_eq!(
        response.headers()["location"],
        format!("/api/v2.0/projects/{id}").as_str()
    );
    assert!(response.text().await.unwrap().is_empty());

    let response = api
        .admin(Method::POST, "/api/v2.0/projects")
        .header("x-resource-name-in-location", "true")
        .json(&json!({"project_name": "beta"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/api/v2.0/projects/beta");
    assert_eq!(emu.project("beta").unwrap().metadata["public"], "false");

    let (status, body) = parts(post(json!({"project_name": "alpha"})).await.unwrap()).await;
    assert_eq!(
        (status, code(&body), message(&body)),
        (409, "CONFLICT", "The project named alpha already exists")
    );

    let cases = [
        (json!({"project_name": "Bad_Name"}), 400),
        (json!({"project_name": "a--b"}), 400),
        (json!({"project_name": ""}), 400),
        (
            json!({"project_name": "ok1", "metadata": {"public": "yes"}}),
            400,
        ),
        (
            json!({"project_name": "ok2", "metadata": {"public": true}}),
            422,
        ),
        (json!({"project_name": "x".repeat(256)}), 422),
    ];
    for (body, want) in cases {
        let (status, response) = parts(post(body.clone()).await.unwrap()).await;
        assert_eq!(status, want, "{body}: {response}");
    }
    let (_, body) = parts(post(json!({"project_name": "Bad"})).await.unwrap()).await;
    assert_eq!(
        message(&body),
        "project name is not in lower case or contains illegal characters"
    );
    let (_, body) = parts(
        post(json!({"project_name": "ok2", "metadata": {"public": true}}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code(&body), "UNPROCESSABLE_ENTITY");
    assert!(message(&body).starts_with("validation failure list:"));

    let response = api
        .admin(Method::POST, "/api/v2.0/projects")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn get_by_name_or_id_and_head() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let id = emu.create_project("123", false);
    let other = emu.create_project("named", true);

    let (status, body) = parts(
        api.admin(Method::GET, &format!("/api/v2.0/projects/{other}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("named")));
    // All-digit names are ids unless X-Is-Resource-Name says otherwise.
    let (status, _) = parts(
        api.admin(Method::GET, "/api/v2.0/projects/123")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = parts(
        api.admin(Method::GET, "/api/v2.0/projects/123")
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["project_id"].as_i64()), (200, Some(id)));
    let (status, _) = parts(
        api.admin(Method::GET, &format!("/api/v2.0/projects/{other}"))
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status, 404,
        "a numeric id is a name with X-Is-Resource-Name"
    );

    // Field shapes: metadata.public is a string; Harbor28 has no chart_count.
    assert_eq!(body["metadata"]["public"], "false");
    for field in [
        "owner_id",
        "owner_name",
        "creation_time",
        "update_time",
        "deleted",
        "repo_count",
        "cve_allowlist",
    ] {
        assert!(body.get(field).is_some(), "{field}");
    }
    assert!(body.get("chart_count").is_none());

    let head = |name: &str| {
        api.admin(
            Method::HEAD,
            &format!("/api/v2.0/projects?project_name={name}"),
        )
        .send()
    };
    assert_eq!(head("named").await.unwrap().status(), 200);
    assert_eq!(
        head("name").await.unwrap().status(),
        404,
        "exact match only"
    );
}

#[tokio::test]
async fn list_filters() {
    let emu = start(Profile::Harbor28).await;
    for name in ["team-a", "team-b", "other"] {
        emu.create_project(name, name != "other");
    }
    let api = Api::new(&emu);
    let names = |query: &'static str| {
        let request = api.admin(Method::GET, &format!("/api/v2.0/projects?{query}"));
        async move {
            let (_, body) = parts(request.send().await.unwrap()).await;
            body.as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("name=team").await, ["team-a", "team-b"]);
    assert_eq!(names("q=name%3Dteam-a").await, ["team-a"]);
    assert_eq!(names("q=name%3Dteam").await, Vec::<String>::new());
    assert_eq!(names("q=name%3D~eam").await, ["team-a", "team-b"]);
    assert_eq!(names("public=false").await, ["other"]);
}

#[tokio::test]
async fn pagination_headers_over_250_projects() {
    let emu = start_with(EmulatorConfig {
        library_project: false,
        ..EmulatorConfig::default()
    })
    .await;
    for i in 0..250 {
        emu.create_project(&format!("p{i:03}"), false);
    }
    let api = Api::new(&emu);
    let response = api
        .admin(Method::GET, "/api/v2.0/projects")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-total-count"], "250");
    assert_eq!(
        response.headers()["link"],
        "</api/v2.0/projects?page=2&page_size=10>; rel=\"next\""
    );
    let (_, body) = parts(response).await;
    assert_eq!(body.as_array().unwrap().len(), 10, "default page size 10");

    let response = api
        .admin(Method::GET, "/api/v2.0/projects?page_size=100&page=2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["link"],
        "</api/v2.0/projects?page=1&page_size=100>; rel=\"prev\" , </api/v2.0/projects?page=3&page_size=100>; rel=\"next\""
    );
    let (_, body) = parts(response).await;
    assert_eq!(body[0]["name"], "p100");

    let response = api
        .admin(Method::GET, "/api/v2.0/projects?page_size=100&page=3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["link"],
        "</api/v2.0/projects?page=2&page_size=100>; rel=\"prev\""
    );
    let (_, body) = parts(response).await;
    assert_eq!(body.as_array().unwrap().len(), 50);

    let mut all = Vec::new();
    for page in 1..=3 {
        let (_, body) = parts(
            api.admin(
                Method::GET,
                &format!("/api/v2.0/projects?page_size=100&page={page}"),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        all.extend(
            body.as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(all.len(), 250);

    for bad in ["page_size=101", "page_size=abc", "page=x"] {
        let (status, body) = parts(
            api.admin(Method::GET, &format!("/api/v2.0/projects?{bad}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (422, "UNPROCESSABLE_ENTITY"),
            "{bad}"
        );
    }

    // Everything fits: no Link.
    let emu = start(Profile::Harbor28).await;
    let response = Api::new(&emu)
        .admin(Method::GET, "/api/v2.0/projects")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("link").is_none());
}

#[tokio::test]
async fn delete_rules_soft_delete_and_name_reuse() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    api.create_project("full", false).await;
    emu.push_image("full", "team/app", "v1");
    let delete = |name: &str| {
        api.admin(Method::DELETE, &format!("/api/v2.0/projects/{name}"))
            .header("x-is-resource-name", "true")
            .send()
    };
    let (status, body) = parts(delete("full").await.unwrap()).await;
    assert_eq!((status, code(&body)), (412, "PRECONDITION"));
    assert_eq!(
        message(&body),
        "precondition failed: the project contains repositories, can not be deleted"
    );

    let (status, body) = parts(
        api.admin(Method::GET, "/api/v2.0/projects/full/_deletable")
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.get("deletable").is_none(), "{body}");
    assert_eq!(
        body["message"],
        "the project contains repositories, can not be deleted"
    );

    // Deleting the last artifact keeps the (empty) repository, which still blocks.
    assert!(emu.delete_artifact("full", "team/app", "v1"));
    assert_eq!(emu.repositories("full"), ["full/team/app"]);
    assert_eq!(parts(delete("full").await.unwrap()).await.0, 412);

    let (status, _) = parts(
        api.admin(
            Method::DELETE,
            "/api/v2.0/projects/full/repositories/team%252Fapp",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = parts(
        api.admin(Method::GET, "/api/v2.0/projects/full/_deletable")
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body, json!({"deletable": true, "message": ""}));

    let old_id = emu.project("full").unwrap().id;
    let (status, body) = parts(delete("full").await.unwrap()).await;
    assert_eq!((status, body), (200, serde_json::Value::Null));
    assert!(emu.project("full").is_none());
    assert!(!emu.project_names().contains(&"full".to_owned()));
    assert_eq!(parts(delete("full").await.unwrap()).await.0, 404);
    let (status, _) = parts(
        api.admin(Method::GET, &format!("/api/v2.0/projects/{old_id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "soft-deleted projects are invisible");
    assert_eq!(
        api.admin(Method::HEAD, "/api/v2.0/projects?project_name=full")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    api.create_project("full", false).await;
    assert_ne!(
        emu.project("full").unwrap().id,
        old_id,
        "the name is reused with a new id"
    );
}

#[tokio::test]
async fn update_upserts_metadata_without_validation() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.create_project("p", false);
    let response = api
        .admin(Method::PUT, "/api/v2.0/projects/p")
        .json(&json!({"metadata": {"public": "maybe", "auto_scan": "true"}}))
        .send()
        .await
        .unwrap();
    let (status, body) = parts(response).await;
    assert_eq!((status, body), (200, serde_json::Value::Null));
    let meta = emu.project("p").unwrap().metadata;
    assert_eq!(
        (meta["public"].as_str(), meta["auto_scan"].as_str()),
        ("maybe", "true")
    );
    let (status, body) = parts(
        api.admin(Method::GET, "/api/v2.0/projects/p/summary")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["repo_count"].as_i64()), (200, Some(0)));
}

#[tokio::test]
async fn repositories_artifacts_and_double_encoding() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.create_project("proj", false);
    let digest = emu.push_image("proj", "team/app/api", "1.0");
    emu.push_image_with_digest("proj", "team/app/api", "latest", &digest);
    let chart_digest = emu.push_oci_chart("proj", "mychart", "0.1.0+build");

    let (status, repos) = parts(
        api.admin(Method::GET, "/api/v2.0/projects/proj/repositories")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let mut names: Vec<_> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["proj/mychart", "proj/team/app/api"]);
    let api_repo = repos
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "proj/team/app/api")
        .unwrap();
    assert_eq!(api_repo["artifact_count"], 1, "two tags, one artifact");

    for encoded in ["team%252Fapp%252Fapi", "team%2Fapp%2Fapi"] {
        let path =
            format!("/api/v2.0/projects/proj/repositories/{encoded}/artifacts?with_tag=true");
        let (status, artifacts) = parts(api.admin(Method::GET, &path).send().await.unwrap()).await;
        assert_eq!(status, 200, "{encoded}");
        let artifact = &artifacts[0];
        assert_eq!(artifact["digest"], digest.as_str());
        assert_eq!(artifact["type"], "IMAGE");
        let tags: Vec<_> = artifact["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["1.0", "latest"]);
        assert_eq!(artifact["tags"][0]["immutable"], false);
    }
    let (status, _) = parts(
        api.admin(
            Method::GET,
            "/api/v2.0/projects/proj/repositories/team/app/api/artifacts",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "a raw slash matches no route");

    let (_, charts) = parts(
        api.admin(
            Method::GET,
            "/api/v2.0/projects/proj/repositories/mychart/artifacts",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(charts[0]["type"], "CHART");
    assert_eq!(
        charts[0]["media_type"],
        "application/vnd.cncf.helm.config.v1+json"
    );
    assert_eq!(charts[0]["tags"][0]["name"], "0.1.0_build");
    assert_eq!(charts[0]["digest"], chart_digest.as_str());
    assert!(charts[0]["extra_attrs"].is_object());

    // Deleting a tag only unlinks it.
    let tag_path = format!(
        "/api/v2.0/projects/proj/repositories/team%252Fapp%252Fapi/artifacts/{digest}/tags/latest"
    );
    assert_eq!(
        api.admin(Method::DELETE, &tag_path)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(emu.tags("proj", "team/app/api"), ["1.0"]);
    assert_eq!(
        api.admin(Method::DELETE, &tag_path)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Deleting by tag removes the artifact; the repository stays.
    let artifact_path = "/api/v2.0/projects/proj/repositories/team%252Fapp%252Fapi/artifacts/1.0";
    assert_eq!(
        api.admin(Method::DELETE, artifact_path)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, body) = parts(
        api.admin(Method::DELETE, artifact_path)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, message(&body)),
        (404, "artifact proj/team/app/api:1.0 not found")
    );
    assert_eq!(emu.repositories("proj").len(), 2);

    let (status, body) = parts(
        api.admin(Method::DELETE, "/api/v2.0/projects/proj/repositories/nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
    assert_eq!(
        api.admin(
            Method::DELETE,
            "/api/v2.0/projects/proj/repositories/mychart"
        )
        .send()
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(emu.repositories("proj"), ["proj/team/app/api"]);
}

#[tokio::test]
async fn artifact_list_is_paginated() {
    let emu = start(Profile::Harbor28).await;
    emu.create_project("p", false);
    for i in 0..15 {
        emu.push_image("p", "app", &format!("v{i}"));
    }
    let api = Api::new(&emu);
    let response = api
        .admin(
            Method::GET,
            "/api/v2.0/projects/p/repositories/app/artifacts?page_size=10",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-total-count"], "15");
    assert_eq!(
        response.headers()["link"],
        "</api/v2.0/projects/p/repositories/app/artifacts?page=2&page_size=10>; rel=\"next\""
    );
}

#[tokio::test]
async fn system_endpoints_per_profile() {
    for profile in [Profile::Harbor27, Profile::Harbor28] {
        let emu = start(profile).await;
        let api = Api::new(&emu);
        let (_, version) = parts(api.get("/api/version").send().await.unwrap()).await;
        assert_eq!(version, json!({"version": "v2.0"}));

        let (_, anon) = parts(api.get("/api/v2.0/systeminfo").send().await.unwrap()).await;
        assert_eq!(anon["harbor_version"], profile.harbor_version());
        assert!(anon.get("with_chartmuseum").is_none());
        let (_, info) = parts(
            api.admin(Method::GET, "/api/v2.0/systeminfo")
                .send()
                .await
                .unwrap(),
        )
        .await;
        let expected = (profile == Profile::Harbor27).then_some(true);
        assert_eq!(info["with_chartmuseum"].as_bool(), expected, "{profile:?}");

        let response = api.get("/api/v2.0/ping").send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(response.text().await.unwrap(), "Pong");
        let response = api
            .get("/api/v2.0/ping")
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);

        let (status, health) = parts(api.get("/api/v2.0/health").send().await.unwrap()).await;
        assert_eq!((status, health["status"].as_str()), (200, Some("healthy")));
        let has_chartmuseum = health["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "chartmuseum");
        assert_eq!(has_chartmuseum, profile == Profile::Harbor27);
    }
}

#[tokio::test]
async fn unknown_routes_are_harbor_404s() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let (status, body) = parts(
        api.admin(Method::GET, "/api/v2.0/nothing/here")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
    let (status, body) = parts(
        api.admin(Method::PATCH, "/api/v2.0/projects")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&body)), (405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test]
async fn call_log_records_raw_paths_routes_and_headers() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.create_project("p", false);
    emu.clear_calls();
    api.admin(
        Method::DELETE,
        "/api/v2.0/projects/p/repositories/a%252Fb?x=1",
    )
    .header("x-is-resource-name", "true")
    .send()
    .await
    .unwrap();
    api.get("/nowhere").send().await.unwrap();
    let calls = emu.calls();
    assert_eq!(calls.len(), 2);
    let call = &calls[0];
    assert_eq!(call.method, Method::DELETE);
    assert_eq!(call.raw_path, "/api/v2.0/projects/p/repositories/a%252Fb");
    assert_eq!(call.query.as_deref(), Some("x=1"));
    assert_eq!(call.status, Some(404));
    assert_eq!(
        call.route.as_deref(),
        Some("/api/v2.0/projects/{project_name}/repositories/{repository_name}")
    );
    assert_eq!(call.x_is_resource_name.as_deref(), Some("true"));
    assert_eq!(call.username.as_deref(), Some("admin"));
    assert!(!call.had_cookie);
    assert!(call.fault.is_none());
    assert_eq!(calls[1].route, None);
    emu.clear_calls();
    assert!(emu.calls().is_empty());
}
