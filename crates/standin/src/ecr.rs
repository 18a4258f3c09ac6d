//! The images the ECR stand-in holds: written by the Docker stand-in's push (and by ECR's own
//! PutImage), read by DescribeImages, ListImages and BatchGetImage. Shared between the two
//! stand-ins of one rehearsal.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One image in a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// `sha256:` and 64 hex digits: the manifest's digest.
    pub digest: String,
    pub tags: Vec<String>,
    /// The manifest, as pushed (ECR's BatchGetImage returns it).
    pub manifest: String,
    pub size: u64,
    pub pushed_at: chrono::DateTime<chrono::Utc>,
}

/// One repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub scan_on_push: bool,
    pub tag_mutability: String,
    pub images: Vec<Image>,
}

/// Why an image could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcrError {
    #[error("The repository with name '{0}' does not exist in the registry")]
    NoRepository(String),
}

/// The repositories of the stand-in's account, shared (clones see the same store).
#[derive(Clone, Debug, Default)]
pub struct Store {
    inner: Arc<Mutex<BTreeMap<String, Repository>>>,
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Repository>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a repository; `false` when one of that name exists already.
    pub fn create_repository(&self, name: &str, scan_on_push: bool, tag_mutability: &str) -> bool {
        let mut repos = self.lock();
        if repos.contains_key(name) {
            return false;
        }
        repos.insert(
            name.to_string(),
            Repository {
                name: name.to_string(),
                created_at: chrono::Utc::now(),
                scan_on_push,
                tag_mutability: tag_mutability.to_string(),
                images: Vec::new(),
            },
        );
        true
    }

    /// A copy of one repository.
    pub fn repository(&self, name: &str) -> Option<Repository> {
        self.lock().get(name).cloned()
    }

    /// Copies of every repository, by name.
    pub fn repositories(&self) -> Vec<Repository> {
        self.lock().values().cloned().collect()
    }

    /// Removes a repository (and its images); `false` when there was none.
    pub fn delete_repository(&self, name: &str) -> bool {
        self.lock().remove(name).is_some()
    }

    /// Stores an image under `tag` (moved from any other image that had it, as ECR does with a
    /// mutable tag); an image with the same digest gains the tag.
    pub fn put_image(
        &self,
        repository: &str,
        tag: Option<&str>,
        digest: &str,
        manifest: &str,
        size: u64,
    ) -> Result<Image, EcrError> {
        let mut repos = self.lock();
        let repo = repos
            .get_mut(repository)
            .ok_or_else(|| EcrError::NoRepository(repository.to_string()))?;
        if let Some(tag) = tag {
            for i in &mut repo.images {
                i.tags.retain(|t| t != tag);
            }
        }
        let image = match repo.images.iter_mut().find(|i| i.digest == digest) {
            Some(i) => i,
            None => {
                repo.images.push(Image {
                    digest: digest.to_string(),
                    tags: Vec::new(),
                    manifest: manifest.to_string(),
                    size,
                    pushed_at: chrono::Utc::now(),
                });
                repo.images.last_mut().expect("just pushed")
            }
        };
        if let Some(tag) = tag {
            image.tags.push(tag.to_string());
        }
        Ok(image.clone())
    }
}

impl Store {
    /// Runs `f` on every repository under the store's lock: a change made of several steps (a
    /// check, then a write) that nothing can come between, as ECR's own API needs.
    pub fn edit<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Repository>) -> R) -> R {
        f(&mut self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_moves_to_the_image_pushed_last() {
        let s = Store::default();
        assert!(s.create_repository("web", true, "MUTABLE"));
        assert!(!s.create_repository("web", true, "MUTABLE"));
        s.put_image("web", Some("latest"), "sha256:aa", "{}", 1)
            .unwrap();
        s.put_image("web", Some("latest"), "sha256:bb", "{}", 1)
            .unwrap();
        let r = s.repository("web").unwrap();
        assert!(r.images[0].tags.is_empty());
        assert_eq!(r.images[1].tags, vec!["latest".to_string()]);
        assert_eq!(
            s.put_image("nope", None, "sha256:aa", "{}", 1),
            Err(EcrError::NoRepository("nope".into()))
        );
    }
}
