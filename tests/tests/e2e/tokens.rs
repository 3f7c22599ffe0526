//! Access tokens under attack: each forged, stale or foreign token is answered 401
//! problem+json, and an independent JWT library verifies PDX tokens from the JWKS alone.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, header, json};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

fn sign_ed25519(header: &Value, claims: &Value, key: &SigningKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

/// The server's JWT signing keys, from its vault, the earliest active first.
fn signing_keys(server: &TestServer) -> Vec<SigningKey> {
    match server.vault().keys("jwt") {
        Ok(keys) => keys
            .into_iter()
            .map(|key| match <[u8; 32]>::try_from(key.material.as_slice()) {
                Ok(seed) => SigningKey::from_bytes(&seed),
                Err(_) => panic!("the key `{}` is not an Ed25519 seed", key.id),
            })
            .collect(),
        Err(error) => panic!("cannot read the server's keys: {error}"),
    }
}

struct Fixture {
    server: TestServer,
    token: String,
    header: Value,
    claims: Value,
    key: SigningKey,
}

async fn fixture() -> Fixture {
    let server = TestServer::spawn().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    let token = server.access_token("clerk@water.test").await;
    let key = signing_keys(&server)[0].clone();
    Fixture {
        header: decode_part(&token, 0),
        claims: decode_part(&token, 1),
        server,
        token,
        key,
    }
}

async fn assert_rejected(server: &TestServer, token: &str, why: &str) {
    let response = server
        .call(Method::GET, "/api/v1/me", Some(token), None)
        .await;
    assert_eq!(response.status(), 401, "{why}");
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/problem+json"),
        "{why}"
    );
    assert!(
        header(&response, "www-authenticate").is_some_and(|h| h.starts_with("Bearer")),
        "{why}"
    );
    assert_eq!(json(response).await["code"], "invalid_token", "{why}");
}

#[tokio::test]
async fn genuine_token_is_accepted_and_carries_the_documented_claims() {
    let f = fixture().await;
    assert_eq!(
        f.server
            .call(Method::GET, "/api/v1/me", Some(&f.token), None)
            .await
            .status(),
        200
    );
    assert_eq!(f.header["alg"], "EdDSA");
    assert!(f.header["kid"].is_string());
    for claim in ["iss", "aud", "sub", "org", "roles", "iat", "exp", "jti"] {
        assert!(
            !f.claims[claim].is_null(),
            "claim {claim} missing from {}",
            f.claims
        );
    }
    let lifetime = f.claims["exp"].as_i64().unwrap_or(0) - f.claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 900, "15 minutes by default");
    // The forging helpers of the tests below produce tokens the server accepts when honest.
    let resigned = sign_ed25519(&f.header, &f.claims, &f.key);
    assert_eq!(
        f.server
            .call(Method::GET, "/api/v1/me", Some(&resigned), None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let f = fixture().await;
    let header = json!({ "alg": "none", "typ": "JWT", "kid": f.header["kid"] });
    let token = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(f.claims.to_string().as_bytes())
    );
    assert_rejected(&f.server, &token, "alg none").await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let f = fixture().await;
    let public = f.key.verifying_key().to_bytes();
    let jwks = json(f.server.get("/.well-known/jwks.json").await).await;
    let x = jwks["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": f.header["kid"] });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(f.claims.to_string().as_bytes())
    );
    for secret in [public.to_vec(), x.into_bytes()] {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret) else {
            panic!()
        };
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        assert_rejected(&f.server, &token, "HS256 with the public key as secret").await;
    }
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let f = fixture().await;
    let mut claims = f.claims.clone();
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 3600);
    claims["nbf"] = json!(now - 3600);
    claims["exp"] = json!(now - 1800);
    assert_rejected(
        &f.server,
        &sign_ed25519(&f.header, &claims, &f.key),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn token_not_yet_valid_is_rejected() {
    let f = fixture().await;
    let mut claims = f.claims.clone();
    let now = chrono::Utc::now().timestamp();
    claims["nbf"] = json!(now + 3600);
    claims["exp"] = json!(now + 7200);
    assert_rejected(
        &f.server,
        &sign_ed25519(&f.header, &claims, &f.key),
        "nbf in the future",
    )
    .await;
}

#[tokio::test]
async fn wrong_audience_is_rejected() {
    let f = fixture().await;
    let mut claims = f.claims.clone();
    claims["aud"] = json!("another-service");
    assert_rejected(
        &f.server,
        &sign_ed25519(&f.header, &claims, &f.key),
        "wrong aud",
    )
    .await;
}

#[tokio::test]
async fn wrong_issuer_is_rejected() {
    let f = fixture().await;
    let mut claims = f.claims.clone();
    claims["iss"] = json!("https://evil.example");
    assert_rejected(
        &f.server,
        &sign_ed25519(&f.header, &claims, &f.key),
        "wrong iss",
    )
    .await;
}

#[tokio::test]
async fn tampered_payload_is_rejected() {
    let f = fixture().await;
    let mut claims = f.claims.clone();
    claims["roles"] = json!(["platform_admin"]);
    let parts: Vec<&str> = f.token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    assert_rejected(&f.server, &forged, "tampered payload").await;
}

#[tokio::test]
async fn unknown_kid_is_rejected() {
    let f = fixture().await;
    let stranger = SigningKey::from_bytes(&[42; 32]);
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": "not-a-pdx-key" });
    assert_rejected(
        &f.server,
        &sign_ed25519(&header, &f.claims, &stranger),
        "unknown kid",
    )
    .await;
    let header = json!({ "alg": "EdDSA", "typ": "JWT" });
    assert_rejected(
        &f.server,
        &sign_ed25519(&header, &f.claims, &stranger),
        "no kid",
    )
    .await;
    // The right kid with a stranger's signature.
    assert_rejected(
        &f.server,
        &sign_ed25519(&f.header, &f.claims, &stranger),
        "foreign signature",
    )
    .await;
}

#[tokio::test]
async fn garbage_and_wrong_scheme_are_rejected() {
    let f = fixture().await;
    assert_rejected(&f.server, "not.a.jwt", "garbage").await;
    let basic = f
        .server
        .client
        .get(f.server.url("/api/v1/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await;
    assert_eq!(basic.map(|r| r.status().as_u16()).ok(), Some(401));
    let missing = f.server.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(missing.status(), 401);
}

#[tokio::test]
async fn rotated_out_key_verifies_its_tokens_until_they_expire_and_then_no_longer() {
    let server = TestServer::spawn_with(|config| config.auth.access_token_ttl_secs = 2).await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user("water", "clerk@water.test", &[Role::Publisher])
        .await;
    let old_token = server.access_token("clerk@water.test").await;
    let old_key = signing_keys(&server)[0].clone();
    let old_header = decode_part(&old_token, 0);

    // Rotated to sign at once (`pdx keys rotate` waits a minute for every server to load it).
    let rotated = pdx_access::keys::rotate(
        &server.vault(),
        std::time::Duration::from_secs(2),
        chrono::Utc::now(),
        std::time::Duration::ZERO,
    );
    let Ok((new_kid, _)) = rotated else {
        panic!("rotation failed")
    };
    assert_ne!(Some(new_kid.as_str()), old_header["kid"].as_str());
    // Within its lifetime, the old key's token still works.
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/me", Some(&old_token), None)
            .await
            .status(),
        200
    );

    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    // A token presenting the new kid makes the server reload its keys.
    let new_key = signing_keys(&server)[1].clone();
    let now = chrono::Utc::now().timestamp();
    let mut claims = decode_part(&old_token, 1);
    claims["iat"] = json!(now);
    claims["nbf"] = json!(now);
    claims["exp"] = json!(now + 2);
    let new_header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": new_kid });
    let new_token = sign_ed25519(&new_header, &claims, &new_key);
    assert_eq!(
        server
            .call(Method::GET, "/api/v1/me", Some(&new_token), None)
            .await
            .status(),
        200
    );
    // The old key is now past its retention: even a fresh-looking token it signs is refused.
    let late = sign_ed25519(&old_header, &claims, &old_key);
    assert_rejected(
        &server,
        &late,
        "signed by a rotated-out key after its tokens expired",
    )
    .await;
    let jwks = json(server.get("/.well-known/jwks.json").await).await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(jwks["keys"][0]["kid"], new_kid.as_str());
}

#[tokio::test]
async fn independent_jwt_library_verifies_a_token_from_the_jwks_alone() {
    use jwt_simple::prelude::*;
    let f = fixture().await;
    let jwks = json(f.server.get("/.well-known/jwks.json").await).await;
    let kid = f.header["kid"].as_str().unwrap_or_default();
    let jwk = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid);
    let Some(jwk) = jwk else {
        panic!("kid {kid} not in the JWKS {jwks}")
    };
    let x = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let Ok(public) = Ed25519PublicKey::from_bytes(&x) else {
        panic!("not an Ed25519 key")
    };
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[f.server.base_url.as_str()])),
        allowed_audiences: Some(HashSet::from_strings(&["pdx"])),
        ..Default::default()
    };
    let verified = public.verify_token::<Value>(&f.token, Some(options));
    let Ok(claims) = verified else {
        panic!("jwt-simple rejected a PDX token: {verified:?}")
    };
    assert_eq!(claims.custom["roles"], json!(["publisher"]));
    assert!(claims.subject.is_some());
    let tampered = f.token.replacen('.', ".x", 1);
    assert!(public.verify_token::<Value>(&tampered, None).is_err());
}
