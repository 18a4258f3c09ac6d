//! `POST /build`: the context tar read, the Dockerfile planned (nothing run), and an image whose
//! id is a digest of what went in, so the same context always gives the same image.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::dockerfile;
use super::images::LocalImage;

/// One entry of a build context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `f` file, `d` folder, `l` symbolic link, `h` hard link.
    pub kind: char,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// A build context: its entries by path (no leading `./` or `/`, folders without a trailing `/`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pub entries: BTreeMap<String, Entry>,
}

fn clean(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    p.trim_end_matches('/').to_string()
}

impl Context {
    /// Reads an uncompressed tar; a malformed one is one line saying why.
    pub fn from_tar(bytes: &[u8]) -> Result<Context, String> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(
                "the build context is gzip-compressed; the rehearsal's Docker stand-in reads an uncompressed tar"
                    .into(),
            );
        }
        let bad =
            |e: std::io::Error| format!("the build context is not a readable tar archive: {e}");
        let mut archive = tar::Archive::new(bytes);
        let mut entries = BTreeMap::new();
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let header = entry.header();
            let mode = header.mode().map_err(bad)?;
            let (kind, link) = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => ('f', None),
                tar::EntryType::Directory => ('d', None),
                tar::EntryType::Symlink => ('l', entry.link_name_bytes()),
                tar::EntryType::Link => ('h', entry.link_name_bytes()),
                // Pax headers are read by the tar crate; devices and fifos have no content.
                _ => continue,
            };
            let data = match link {
                Some(l) => l.into_owned(),
                None => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).map_err(bad)?;
                    data
                }
            };
            if path.is_empty() {
                continue;
            }
            entries.insert(path, Entry { kind, mode, data });
        }
        Ok(Context { entries })
    }

    /// The text of the file at `path`.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.entries
            .get(&clean(path))
            .filter(|e| e.kind == 'f')
            .map(|e| e.data.as_slice())
    }

    /// Whether `path` (a COPY source) is in the context: a file, a folder, or the context itself.
    pub fn has(&self, path: &str) -> bool {
        let p = clean(path);
        if p.is_empty() || p == "." {
            return true;
        }
        if p.contains(['*', '?', '[']) {
            // A pattern: not checked.
            return true;
        }
        let prefix = format!("{p}/");
        self.entries.contains_key(&p) || self.entries.keys().any(|k| k.starts_with(&prefix))
    }

    /// The bytes of the context's regular files: the image's size.
    pub fn size(&self) -> u64 {
        self.entries
            .values()
            .filter(|e| e.kind == 'f')
            .map(|e| e.data.len() as u64)
            .sum()
    }
}

/// What a build was asked: the query of `POST /build`.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub tags: Vec<String>,
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub quiet: bool,
}

/// The image id of a build: a sha256 of the context (each entry's path, kind, mode and bytes,
/// by path), the Dockerfile's path, the build args, the labels and the target.
pub fn image_id(ctx: &Context, req: &Request) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(b"tollgate-standin build 1");
    for (path, e) in &ctx.entries {
        field(path.as_bytes());
        field(&[e.kind as u8]);
        field(&e.mode.to_be_bytes());
        field(&e.data);
    }
    field(b"dockerfile");
    field(req.dockerfile.as_bytes());
    for (name, map) in [("args", &req.build_args), ("labels", &req.labels)] {
        field(name.as_bytes());
        for (k, v) in map {
            field(k.as_bytes());
            field(v.as_bytes());
        }
    }
    field(b"target");
    field(req.target.as_deref().unwrap_or("").as_bytes());
    format!("sha256:{}", hex(&h.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The stream of a build as the legacy builder writes it, and the image made (`None` when the
/// stream ends in an error).
pub fn run(ctx: &Context, req: &Request) -> (Vec<Value>, Option<LocalImage>) {
    let mut out = Vec::new();
    let stream = |s: String| json!({"stream": s});
    let fail = |out: &mut Vec<Value>, msg: String| {
        out.push(json!({"errorDetail": {"message": msg}, "error": msg}));
    };
    let name = &req.dockerfile;
    // As the daemon does, `dockerfile` stands in for a missing `Dockerfile`.
    let fallback = (name == "Dockerfile")
        .then(|| ctx.file("dockerfile"))
        .flatten();
    let text = match ctx.file(name).or(fallback) {
        Some(t) => t,
        None => {
            fail(
                &mut out,
                format!("Cannot locate specified Dockerfile: {name}"),
            );
            return (out, None);
        }
    };
    let plan = match dockerfile::parse(&String::from_utf8_lossy(text))
        .and_then(|ins| dockerfile::plan(&ins, &req.build_args, req.target.as_deref()))
    {
        Ok(p) => p,
        Err(e) => {
            fail(&mut out, e);
            return (out, None);
        }
    };
    let id = image_id(ctx, req);
    let hex_id = &id["sha256:".len()..];
    let n = plan.steps.len();
    for (i, step) in plan.steps.iter().enumerate() {
        if !req.quiet {
            out.push(stream(format!("Step {}/{n} : {}\n", i + 1, step.text())));
        }
        if step.keyword == "COPY" || step.keyword == "ADD" {
            let missing = plan.sources.iter().find(|(at, s)| *at == i && !ctx.has(s));
            if let Some((_, s)) = missing {
                let k = &step.keyword;
                fail(
                    &mut out,
                    format!(
                        "{k} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"
                    ),
                );
                return (out, None);
            }
        }
        if req.quiet {
            continue;
        }
        let layer = if i + 1 == n {
            hex_id[..12].to_string()
        } else {
            sha256_hex(format!("{id}/{i}").as_bytes())[..12].to_string()
        };
        if step.keyword == "RUN" {
            out.push(stream(
                " ---> (not run: the rehearsal's Docker stand-in runs nothing)\n".into(),
            ));
        }
        out.push(stream(format!(" ---> {layer}\n")));
    }
    let unused: Vec<&String> = req
        .build_args
        .keys()
        .filter(|k| !plan.declared.contains(*k))
        .collect();
    if !unused.is_empty() && !req.quiet {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        out.push(stream(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            names.join(" ")
        )));
    }
    out.push(json!({"aux": {"ID": id}}));
    if req.quiet {
        out.push(stream(format!("{id}\n")));
    } else {
        out.push(stream(format!("Successfully built {}\n", &hex_id[..12])));
        for t in &req.tags {
            out.push(stream(format!("Successfully tagged {t}\n")));
        }
    }
    let mut labels = plan.labels;
    labels.extend(req.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let image = LocalImage {
        id,
        tags: Vec::new(),
        digests: Vec::new(),
        size: ctx.size(),
        created: chrono::Utc::now(),
        labels,
        env: plan.env,
    };
    (out, Some(image))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A tar of `(path, bytes)` files.
    pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn req() -> Request {
        Request {
            dockerfile: "Dockerfile".into(),
            ..Request::default()
        }
    }

    const DF: &[u8] =
        b"FROM scratch\nARG GREETING=none\nCOPY hello.txt /hello.txt\nLABEL greeting=$GREETING\n";

    #[test]
    fn the_same_context_gives_the_same_id_and_one_byte_another() {
        let a =
            Context::from_tar(&tar_of(&[("Dockerfile", DF), ("hello.txt", b"hello\n")])).unwrap();
        // Another order in the tar, the same content.
        let b =
            Context::from_tar(&tar_of(&[("./hello.txt", b"hello\n"), ("Dockerfile", DF)])).unwrap();
        let c =
            Context::from_tar(&tar_of(&[("Dockerfile", DF), ("hello.txt", b"hellO\n")])).unwrap();
        assert_eq!(image_id(&a, &req()), image_id(&b, &req()));
        assert_ne!(image_id(&a, &req()), image_id(&c, &req()));
        let mut args = req();
        args.build_args.insert("GREETING".into(), "hi".into());
        assert_ne!(image_id(&a, &req()), image_id(&a, &args));
        let mut labels = req();
        labels.labels.insert("a".into(), "b".into());
        assert_ne!(image_id(&a, &req()), image_id(&a, &labels));
        let id = image_id(&a, &req());
        assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    }

    #[test]
    fn a_build_streams_steps_the_id_and_tags() {
        let ctx =
            Context::from_tar(&tar_of(&[("Dockerfile", DF), ("hello.txt", b"hello\n")])).unwrap();
        let mut r = req();
        r.tags = vec!["web:1".into()];
        r.build_args.insert("GREETING".into(), "hello".into());
        r.build_args.insert("UNUSED".into(), "x".into());
        let (out, image) = run(&ctx, &r);
        let image = image.unwrap();
        let text: String = out.iter().filter_map(|v| v["stream"].as_str()).collect();
        assert!(text.starts_with("Step 1/4 : FROM scratch\n"), "{text}");
        assert!(
            text.contains("Step 4/4 : LABEL greeting=$GREETING\n"),
            "{text}"
        );
        assert!(text.contains(&format!("Successfully built {}\n", image.short_id())));
        assert!(text.ends_with("Successfully tagged web:1\n"), "{text}");
        assert!(
            text.contains("build-args [UNUSED] were not consumed"),
            "{text}"
        );
        assert!(out.iter().any(|v| v["aux"]["ID"] == json!(image.id)));
        assert_eq!(
            image.labels.get("greeting").map(String::as_str),
            Some("hello")
        );
        assert_eq!(image.size, DF.len() as u64 + 6);
    }

    #[test]
    fn a_missing_dockerfile_or_source_is_the_daemons_error() {
        let error = |files: &[(&str, &[u8])]| {
            let ctx = Context::from_tar(&tar_of(files)).unwrap();
            let (out, image) = run(&ctx, &req());
            assert!(image.is_none());
            out.last().unwrap()["errorDetail"]["message"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            error(&[("hello.txt", b"x")]),
            "Cannot locate specified Dockerfile: Dockerfile"
        );
        assert_eq!(
            error(&[("Dockerfile", DF)]),
            "COPY failed: file not found in build context or excluded by .dockerignore: stat hello.txt: file does not exist"
        );
        assert!(
            error(&[("Dockerfile", b"FROM scratch\nFROBNICATE x\n")])
                .contains("unknown instruction: FROBNICATE")
        );
    }

    #[test]
    fn a_malformed_tar_says_so() {
        let e = Context::from_tar(&b"this is not a tar archive at all".repeat(40)).unwrap_err();
        assert!(
            e.starts_with("the build context is not a readable tar archive"),
            "{e}"
        );
        let mut cut = tar_of(&[("Dockerfile", DF)]);
        cut.truncate(600);
        assert!(Context::from_tar(&cut).is_err());
        assert!(
            Context::from_tar(&[0x1f, 0x8b, 0, 0])
                .unwrap_err()
                .contains("gzip")
        );
        // An empty body is an empty context (and then no Dockerfile).
        assert_eq!(Context::from_tar(&[]).unwrap(), Context::default());
    }
}
