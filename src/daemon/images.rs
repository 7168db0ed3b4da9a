//! Images, as the daemon sees them: inspect, history, pull and tag.

use std::collections::BTreeMap;

use http::header::{HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::{Client, escape};
use crate::http::error::ApiError;
use crate::reference::auth::{AuthConfig, REGISTRY_AUTH_HEADER};
use crate::reference::{Named, pull_query};

/// What the gateway needs to know of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:<64 hex>`: the ID the daemon resolved the name to.
    pub id: String,
    /// `Config.Labels`: what every container made from the image starts with.
    pub labels: BTreeMap<String, String>,
    /// `Config.OnBuild`: triggers a `FROM` of this image runs before anything else.
    pub onbuild: Vec<String>,
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

impl Image {
    fn from_json(value: &serde_json::Value) -> Result<Image, ApiError> {
        let bad = |what: &str| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the Docker daemon's image inspect answer has no valid {what}"),
            )
        };
        let id = value
            .get("Id")
            .and_then(|v| v.as_str())
            .filter(|id| is_full_id(id))
            .ok_or_else(|| bad("Id"))?
            .to_string();
        let config = value.get("Config").filter(|c| !c.is_null());
        let labels = match config.and_then(|c| c.get("Labels")) {
            None | Some(serde_json::Value::Null) => BTreeMap::new(),
            Some(serde_json::Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|v| (k.clone(), v.to_string()))
                        .ok_or_else(|| bad("Config.Labels"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("Config.Labels")),
        };
        let onbuild = match config.and_then(|c| c.get("OnBuild")) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad("Config.OnBuild"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("Config.OnBuild")),
        };
        let text = |key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Ok(Image {
            id,
            labels,
            onbuild,
            os: text("Os"),
            architecture: text("Architecture"),
            variant: text("Variant"),
        })
    }
}

/// One line of `docker history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// The image of that step, when it exists locally (`<missing>` otherwise: layers of
    /// pulled or loaded images).
    pub id: Option<String>,
    pub created_by: String,
}

/// `sha256:` and 64 lowercase hex digits: the only spelling of an image that the daemon
/// reads as that one image and nothing else.
pub fn is_full_id(id: &str) -> bool {
    id.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

impl Client {
    /// `GET /images/{name}/json`: the image the daemon resolves `name` to, or `None`.
    pub async fn inspect_image(&mut self, name: &str) -> Result<Option<Image>, ApiError> {
        match self
            .get_json(&format!("/images/{}/json", escape(name)))
            .await?
        {
            None => Ok(None),
            Some(value) => Image::from_json(&value).map(Some),
        }
    }

    /// `GET /images/{id}/history`, newest step first.
    pub async fn image_history(&mut self, id: &str) -> Result<Vec<HistoryItem>, ApiError> {
        let value = self
            .get_json(&format!("/images/{}/history", escape(id)))
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("the Docker daemon has no history for image {id}"),
                )
            })?;
        let items = value.as_array().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "the Docker daemon's image history answer is not a list",
            )
        })?;
        Ok(items
            .iter()
            .map(|item| HistoryItem {
                id: item
                    .get("Id")
                    .and_then(|v| v.as_str())
                    .filter(|id| is_full_id(id))
                    .map(str::to_string),
                created_by: item
                    .get("CreatedBy")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect())
    }

    /// Pulls one image (never "all tags": the tag is always set), with `auth` as the
    /// registry credentials, as `docker pull --platform` would.
    pub async fn pull(
        &mut self,
        image: &Named,
        platform: Option<&str>,
        auth: &AuthConfig,
    ) -> Result<(), ApiError> {
        let (from_image, tag) = pull_query(image).map_err(|e| {
            ApiError::bad_request(format!("cannot pull {}: {e}", image.familiar_string()))
        })?;
        let mut path = format!(
            "/images/create?fromImage={}&tag={}",
            escape(&from_image),
            escape(&tag)
        );
        if let Some(platform) = platform.filter(|p| !p.is_empty()) {
            path.push_str(&format!("&platform={}", escape(platform)));
        }
        let mut headers = HeaderMap::new();
        if !auth.is_empty() {
            let value = HeaderValue::from_str(&auth.to_header_value()).map_err(|_| {
                ApiError::bad_request("the registry credentials cannot be sent as a header")
            })?;
            headers.insert(REGISTRY_AUTH_HEADER, value);
        }
        self.call_stream(Method::POST, &path, headers).await
    }

    /// Tags image `id` (a full ID) as `target`.
    pub async fn tag(&mut self, id: &str, target: &Named) -> Result<(), ApiError> {
        let tag = target.tag().unwrap_or("latest");
        let path = format!(
            "/images/{}/tag?repo={}&tag={}",
            escape(id),
            escape(&target.name()),
            escape(tag)
        );
        let answer = self
            .call(Method::POST, &path, HeaderMap::new(), None)
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(super::daemon_refused(answer.status, &answer.message()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn full_ids() {
        assert!(is_full_id(ID));
        assert!(!is_full_id(&ID[7..]));
        assert!(!is_full_id(&ID[..70]));
        assert!(!is_full_id(&ID.to_uppercase()));
        assert!(!is_full_id("sha512:0123"));
    }

    #[test]
    fn inspect_answers() {
        let value = serde_json::json!({
            "Id": ID,
            "Os": "linux",
            "Architecture": "amd64",
            "Config": {"Labels": {"owner": "a", "x": ""}, "OnBuild": ["RUN echo t1"]},
        });
        let image = Image::from_json(&value).unwrap();
        assert_eq!(image.id, ID);
        assert_eq!(image.labels.get("owner").map(String::as_str), Some("a"));
        assert_eq!(image.onbuild, vec!["RUN echo t1".to_string()]);
        assert_eq!(
            (image.os.as_str(), image.architecture.as_str()),
            ("linux", "amd64")
        );

        let bare = serde_json::json!({"Id": ID, "Config": {"Labels": null, "OnBuild": null}});
        let image = Image::from_json(&bare).unwrap();
        assert!(image.labels.is_empty() && image.onbuild.is_empty());
        let no_config = serde_json::json!({"Id": ID, "Config": null});
        assert!(Image::from_json(&no_config).is_ok());

        for bad in [
            serde_json::json!({"Id": "abc"}),
            serde_json::json!({"Id": ID, "Config": {"Labels": {"owner": 1}}}),
            serde_json::json!({"Id": ID, "Config": {"OnBuild": "RUN x"}}),
            serde_json::json!({"Id": ID, "Config": {"OnBuild": [1]}}),
        ] {
            assert!(Image::from_json(&bad).is_err(), "{bad}");
        }
    }
}
