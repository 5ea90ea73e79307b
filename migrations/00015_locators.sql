-- Citations that name what a person looks for (issue 13): the slide of a deck, the sheet and
-- cell range of a spreadsheet, the chapter of an e-book, and whether the text was read from
-- a scan.
--
-- documents.page_unit says what page_count and the chunks' page ranges count: pages, or the
-- slides of a presentation.
--
-- chunks.locator is where the chunk is beyond its pages ("Budget!A1:F40", a chapter), NULL
-- when its pages say it all; bounded, since it comes from the file (ingestion bounds each
-- block's to 256 bytes; a chunk's may join two). chunks.ocr: some of its text was
-- recognised from an image. chunks.header_chars: the chunk's text starts with that many
-- characters of its table's header rows (and a line break), repeated because the chunk
-- carries later rows of the table; char_start and char_end are where the rest is in
-- documents.text.

-- +goose Up
ALTER TABLE documents
  ADD COLUMN page_unit text NOT NULL DEFAULT 'page',
  ADD CONSTRAINT documents_page_unit_check CHECK (page_unit IN ('page', 'slide'));
ALTER TABLE chunks
  ADD COLUMN locator text,
  ADD COLUMN ocr boolean NOT NULL DEFAULT false,
  ADD COLUMN header_chars int NOT NULL DEFAULT 0,
  ADD CONSTRAINT chunks_locator_check CHECK (locator IS NULL OR (locator <> '' AND octet_length(locator) <= 1024)),
  ADD CONSTRAINT chunks_header_chars_check CHECK (header_chars >= 0);

-- +goose Down
ALTER TABLE chunks
  DROP CONSTRAINT chunks_header_chars_check,
  DROP CONSTRAINT chunks_locator_check,
  DROP COLUMN header_chars,
  DROP COLUMN ocr,
  DROP COLUMN locator;
ALTER TABLE documents
  DROP CONSTRAINT documents_page_unit_check,
  DROP COLUMN page_unit;
