#![allow(clippy::unwrap_used)]
use super::*;
use md5::{Digest, Md5};

fn store() -> (tempfile::TempDir, S3Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = S3Store::local(dir.path().join("objects")).unwrap();
    (dir, store)
}

fn md5_etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(bytes)))
}

#[tokio::test]
async fn buckets_create_list_delete() {
    let (_dir, s3) = store();
    s3.create_bucket("alpha").await.unwrap();
    s3.create_bucket("beta.b-1").await.unwrap();
    assert!(matches!(
        s3.create_bucket("alpha").await,
        Err(S3Error::BucketAlreadyOwnedByYou { .. })
    ));
    assert!(matches!(
        s3.create_bucket("Bad_Name").await,
        Err(S3Error::InvalidBucketName { .. })
    ));
    let names: Vec<String> = s3
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "beta.b-1"]);

    s3.put_object(
        "alpha",
        "d/x.txt",
        Bytes::from_static(b"x"),
        PutMeta::default(),
    )
    .await
    .unwrap();
    assert!(matches!(
        s3.delete_bucket("alpha").await,
        Err(S3Error::BucketNotEmpty { .. })
    ));
    s3.delete_object("alpha", "d/x.txt").await.unwrap();
    s3.delete_bucket("alpha").await.unwrap();
    assert!(matches!(
        s3.head_bucket("alpha").await,
        Err(S3Error::NoSuchBucket { .. })
    ));
    assert!(matches!(
        s3.head_bucket("..").await,
        Err(S3Error::NoSuchBucket { .. })
    ));
    // The internal tree is never a bucket.
    let names: Vec<String> = s3
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["beta.b-1"]);
}

#[tokio::test]
async fn objects_keep_bytes_metadata_and_etag() {
    let (_dir, s3) = store();
    s3.create_bucket("data").await.unwrap();
    let keys = [
        "plain.txt",
        "docs/2024/report.md",
        "with space/and+plus.md",
        "ünïcödé/日本語.txt",
        "odd%41#1/~*?.txt",
    ];
    for key in keys {
        let body = Bytes::from(format!("body of {key}"));
        let meta = PutMeta {
            content_type: Some("text/markdown".into()),
            metadata: BTreeMap::from([("author".to_string(), "ana".to_string())]),
        };
        let etag = s3
            .put_object("data", key, body.clone(), meta.clone())
            .await
            .unwrap();
        assert_eq!(etag, md5_etag(&body));
        assert_eq!(s3.get_object("data", key).await.unwrap(), body);
        let info = s3.head_object("data", key).await.unwrap();
        assert_eq!(info.summary.size, body.len() as u64);
        assert_eq!(info.summary.etag, etag);
        assert_eq!(info.content_type, meta.content_type);
        assert_eq!(info.metadata, meta.metadata);
    }
    let listed: Vec<String> = s3
        .list_objects("data", "")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);

    assert!(matches!(
        s3.get_object("data", "missing").await,
        Err(S3Error::NoSuchKey { .. })
    ));
    assert!(matches!(
        s3.get_object("nope", "plain.txt").await,
        Err(S3Error::NoSuchBucket { .. })
    ));
    // Overwrite replaces bytes and metadata.
    s3.put_object(
        "data",
        "plain.txt",
        Bytes::from_static(b"v2"),
        PutMeta::default(),
    )
    .await
    .unwrap();
    let info = s3.head_object("data", "plain.txt").await.unwrap();
    assert_eq!(info.content_type, None);
    assert_eq!(info.summary.etag, md5_etag(b"v2"));
}

#[tokio::test]
async fn traversal_is_refused() {
    let (dir, s3) = store();
    s3.create_bucket("data").await.unwrap();
    for key in [
        "../escape.txt",
        "a/../../escape.txt",
        "./x",
        "/abs",
        "a//b",
        "dir/",
    ] {
        assert!(
            matches!(
                s3.put_object("data", key, Bytes::from_static(b"x"), PutMeta::default())
                    .await,
                Err(S3Error::InvalidArgument(_))
            ),
            "{key}"
        );
    }
    assert!(!dir.path().join("escape.txt").exists());
    assert!(!dir.path().join("objects/escape.txt").exists());
    assert!(matches!(
        s3.put_object("../objects", "x", Bytes::new(), PutMeta::default())
            .await,
        Err(S3Error::NoSuchBucket { .. })
    ));
    assert!(matches!(
        s3.upload_part("data", "x", "../../etc", 1, Bytes::new())
            .await,
        Err(S3Error::NoSuchUpload { .. })
    ));
}

#[tokio::test]
async fn listing_pages_with_delimiter_and_prefix() {
    let (_dir, s3) = store();
    s3.create_bucket("data").await.unwrap();
    for key in [
        "a.txt",
        "docs/1.md",
        "docs/2.md",
        "docs/sub/3.md",
        "docsx.txt",
        "z.txt",
    ] {
        s3.put_object("data", key, Bytes::from_static(b"."), PutMeta::default())
            .await
            .unwrap();
    }
    let page = s3
        .list_objects_page(
            "data",
            &ListRequest {
                delimiter: Some("/".into()),
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a.txt", "docsx.txt", "z.txt"]);
    assert_eq!(page.common_prefixes, ["docs/"]);

    let docs: Vec<String> = s3
        .list_objects("data", "docs")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        docs,
        ["docs/1.md", "docs/2.md", "docs/sub/3.md", "docsx.txt"]
    );
    let sub: Vec<String> = s3
        .list_objects("data", "docs/s")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(sub, ["docs/sub/3.md"]);
    assert!(s3
        .list_objects("data", "nothing/here")
        .await
        .unwrap()
        .is_empty());

    // After deleting the only key under docs/sub/, `docs/sub` can be a key again.
    s3.delete_object("data", "docs/sub/3.md").await.unwrap();
    s3.put_object(
        "data",
        "docs/sub",
        Bytes::from_static(b"f"),
        PutMeta::default(),
    )
    .await
    .unwrap();
    assert_eq!(s3.get_object("data", "docs/sub").await.unwrap(), &b"f"[..]);
}

#[tokio::test]
async fn ranges() {
    let (_dir, s3) = store();
    s3.create_bucket("data").await.unwrap();
    s3.put_object(
        "data",
        "r",
        Bytes::from_static(b"0123456789"),
        PutMeta::default(),
    )
    .await
    .unwrap();
    // Each answer read as a client reads it: the stream collected, its length as announced.
    let get = |range| {
        let s3 = s3.clone();
        async move {
            let out = s3.get_object_range("data", "r", Some(range)).await?;
            let (range, length) = (out.range.clone(), out.length);
            let body = out.collect().await?;
            assert_eq!(body.len() as u64, length);
            Ok::<_, S3Error>(Ranged { body, range })
        }
    };
    let out = get(ByteRange::From {
        first: 2,
        last: Some(4),
    })
    .await
    .unwrap();
    assert_eq!((&out.body[..], out.range), (&b"234"[..], Some(2..5)));
    let out = get(ByteRange::From {
        first: 7,
        last: None,
    })
    .await
    .unwrap();
    assert_eq!(&out.body[..], b"789");
    let out = get(ByteRange::From {
        first: 8,
        last: Some(100),
    })
    .await
    .unwrap();
    assert_eq!(&out.body[..], b"89");
    let out = get(ByteRange::Suffix(3)).await.unwrap();
    assert_eq!(&out.body[..], b"789");
    let out = get(ByteRange::Suffix(30)).await.unwrap();
    assert_eq!(&out.body[..], b"0123456789");
    assert!(matches!(
        get(ByteRange::From {
            first: 10,
            last: None
        })
        .await,
        Err(S3Error::InvalidRange { size: 10 })
    ));
}

#[tokio::test]
async fn multipart_assembles_in_part_order() {
    let (_dir, s3) = store();
    s3.create_bucket("data").await.unwrap();
    let meta = PutMeta {
        content_type: Some("application/pdf".into()),
        metadata: BTreeMap::new(),
    };
    let id = s3
        .create_multipart_upload("data", "big/file.bin", meta)
        .await
        .unwrap();
    let part1 = Bytes::from(vec![b'a'; MIN_PART_BYTES as usize]);
    let part2 = Bytes::from(vec![b'b'; MIN_PART_BYTES as usize]);
    let part3 = Bytes::from_static(b"tail");
    // Uploaded out of order; assembled by part number.
    let e3 = s3
        .upload_part("data", "big/file.bin", &id, 3, part3.clone())
        .await
        .unwrap();
    let e1 = s3
        .upload_part("data", "big/file.bin", &id, 1, part1.clone())
        .await
        .unwrap();
    let e2 = s3
        .upload_part("data", "big/file.bin", &id, 2, part2.clone())
        .await
        .unwrap();
    assert_eq!(e1, md5_etag(&part1));
    let parts = |list: &[(u32, &String)]| {
        list.iter()
            .map(|(n, e)| CompletedPart {
                part_number: *n,
                etag: (*e).clone(),
            })
            .collect::<Vec<_>>()
    };
    assert!(matches!(
        s3.complete_multipart_upload("data", "big/file.bin", &id, &parts(&[(2, &e2), (1, &e1)]))
            .await,
        Err(S3Error::InvalidPartOrder)
    ));
    assert!(matches!(
        s3.complete_multipart_upload("data", "big/file.bin", &id, &parts(&[(1, &e2), (3, &e3)]))
            .await,
        Err(S3Error::InvalidPart(_))
    ));
    assert!(matches!(
        s3.complete_multipart_upload("data", "big/file.bin", &id, &parts(&[(3, &e3), (4, &e3)]))
            .await,
        Err(S3Error::EntityTooSmall { .. }) | Err(S3Error::InvalidPart(_))
    ));
    assert!(matches!(
        s3.complete_multipart_upload("data", "other", &id, &parts(&[(1, &e1)]))
            .await,
        Err(S3Error::NoSuchUpload { .. })
    ));
    let etag = s3
        .complete_multipart_upload(
            "data",
            "big/file.bin",
            &id,
            &parts(&[(1, &e1), (2, &e2), (3, &e3)]),
        )
        .await
        .unwrap();
    let mut md5s = Vec::new();
    for p in [&part1, &part2, &part3] {
        md5s.extend_from_slice(&Md5::digest(p));
    }
    assert_eq!(etag, format!("\"{}-3\"", hex::encode(Md5::digest(&md5s))));
    let body = s3.get_object("data", "big/file.bin").await.unwrap();
    assert_eq!(body.len(), part1.len() + part2.len() + part3.len());
    assert_eq!(&body[..part1.len()], &part1[..]);
    assert_eq!(&body[part1.len()..part1.len() + part2.len()], &part2[..]);
    assert!(body.ends_with(b"tail"));
    let info = s3.head_object("data", "big/file.bin").await.unwrap();
    assert_eq!(info.summary.etag, etag);
    assert_eq!(info.content_type.as_deref(), Some("application/pdf"));
    // Completed: the upload is gone, and the staging area is not listed.
    assert!(matches!(
        s3.upload_part("data", "big/file.bin", &id, 1, part3.clone())
            .await,
        Err(S3Error::NoSuchUpload { .. })
    ));
    assert_eq!(s3.list_objects("data", "").await.unwrap().len(), 1);
}

#[tokio::test]
async fn abort_drops_the_parts() {
    let (dir, s3) = store();
    s3.create_bucket("data").await.unwrap();
    let id = s3
        .create_multipart_upload("data", "k", PutMeta::default())
        .await
        .unwrap();
    s3.upload_part("data", "k", &id, 1, Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert!(matches!(
        s3.upload_part("data", "k", &id, 0, Bytes::new()).await,
        Err(S3Error::InvalidArgument(_))
    ));
    s3.abort_multipart_upload("data", "k", &id).await.unwrap();
    assert!(matches!(
        s3.abort_multipart_upload("data", "k", &id).await,
        Err(S3Error::NoSuchUpload { .. })
    ));
    assert!(!dir
        .path()
        .join("objects/.basalt/uploads")
        .join(&id)
        .exists());
    assert!(matches!(
        s3.head_object("data", "k").await,
        Err(S3Error::NoSuchKey { .. })
    ));
}

#[test]
fn s3_uris() {
    assert_eq!(
        parse_s3_uri("s3://docs/kb/2024/").unwrap(),
        ("docs".to_string(), "kb/2024/".to_string())
    );
    assert_eq!(
        parse_s3_uri("s3://docs").unwrap(),
        ("docs".to_string(), String::new())
    );
    assert!(parse_s3_uri("https://docs").is_err());
    assert!(parse_s3_uri("s3://../x").is_err());
}

/// A ranged GetObject answer, collected.
struct Ranged {
    body: Bytes,
    range: Option<std::ops::Range<u64>>,
}
