"""The MinIO server the component tests use is real and speaks S3."""

import io


def test_put_get_list_delete_roundtrip(minio_server, s3_bucket):
    client = minio_server.client()
    payload = b"thyme" * 1000
    client.put_object(s3_bucket, "a/b/object.bin", io.BytesIO(payload), len(payload))
    client.put_object(s3_bucket, "a/other.bin", io.BytesIO(b"x"), 1)

    resp = client.get_object(s3_bucket, "a/b/object.bin")
    try:
        assert resp.read() == payload
    finally:
        resp.close()
        resp.release_conn()

    names = sorted(o.object_name for o in client.list_objects(s3_bucket, prefix="a/", recursive=True))
    assert names == ["a/b/object.bin", "a/other.bin"]

    client.remove_object(s3_bucket, "a/b/object.bin")
    names = [o.object_name for o in client.list_objects(s3_bucket, recursive=True)]
    assert names == ["a/other.bin"]
