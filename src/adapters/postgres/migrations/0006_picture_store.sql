-- Picture bytes move out of the image records into a picture store.
--
-- images keeps what the service knows of a picture (its key in the picture store, its
-- size, its content type); picture_objects is the database's own picture store, used
-- when PICTURE_STORE is unset. Pictures already stored move there under the keys the
-- service writes (inputs/<jobId>, outputs/<jobId>.<ext>); `picpaygo pictures migrate`
-- moves them on to an object store.

CREATE TABLE picture_objects (
    key          text PRIMARY KEY,
    data         bytea NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    created_at   timestamptz NOT NULL
);
-- Bytes that are stored compressed already (JPEG, PNG, WebP): no compression attempt.
ALTER TABLE picture_objects ALTER COLUMN data SET STORAGE EXTERNAL;

ALTER TABLE images ADD COLUMN key text, ADD COLUMN size bigint;

UPDATE images SET key = 'inputs/' || jobs.id
FROM jobs WHERE jobs.input_image_id = images.id;

UPDATE images SET key = 'outputs/' || jobs.id || '.' || CASE images.content_type
    WHEN 'image/jpeg' THEN 'jpg' WHEN 'image/webp' THEN 'webp' WHEN 'image/png' THEN 'png'
    ELSE 'bin' END
FROM jobs WHERE jobs.output_image_id = images.id AND images.key IS NULL;

UPDATE images SET key = 'images/' || id WHERE key IS NULL;
UPDATE images SET size = octet_length(data);

INSERT INTO picture_objects (key, data, content_type, size, created_at)
SELECT key, data, content_type, size, created_at FROM images;

ALTER TABLE images DROP COLUMN data;
ALTER TABLE images ALTER COLUMN key SET NOT NULL, ALTER COLUMN size SET NOT NULL;
CREATE UNIQUE INDEX images_key ON images (key);
