-- The sqlite3 shell on a database file: DDL, inserts in a transaction, queries, an index,
-- a view, a trigger, aggregates and a join. Output must match Linux's byte for byte.
.bail on
.headers on
.mode list
PRAGMA journal_mode=DELETE;
CREATE TABLE author(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE book(id INTEGER PRIMARY KEY, author INTEGER REFERENCES author(id),
                  title TEXT, year INTEGER, pages INTEGER);
CREATE TABLE log(msg TEXT);
CREATE TRIGGER book_added AFTER INSERT ON book BEGIN
  INSERT INTO log VALUES ('added ' || NEW.title);
END;
BEGIN;
INSERT INTO author(name) VALUES ('Knuth'), ('Kernighan'), ('Ritchie'), ('Tanenbaum');
INSERT INTO book(author, title, year, pages) VALUES
  (1, 'TAOCP 1', 1968, 672), (1, 'TAOCP 2', 1969, 762), (1, 'TAOCP 3', 1973, 780),
  (2, 'The C Programming Language', 1978, 228), (3, 'UNIX Papers', 1974, 120),
  (4, 'Operating Systems', 1987, 719), (4, 'Computer Networks', 1981, 960);
COMMIT;
CREATE INDEX book_year ON book(year);
CREATE VIEW per_author AS
  SELECT a.name, count(*) AS n, sum(b.pages) AS pages, min(b.year) AS first
  FROM author a JOIN book b ON b.author = a.id GROUP BY a.id;
SELECT * FROM per_author ORDER BY pages DESC;
SELECT title FROM book WHERE year BETWEEN 1970 AND 1980 ORDER BY year;
SELECT count(*) AS logged FROM log;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
  SELECT sum(i), avg(i), total(i * i) FROM n;
BEGIN;
DELETE FROM book WHERE year < 1970;
ROLLBACK;
SELECT count(*) AS books_after_rollback FROM book;
UPDATE book SET pages = pages + 1 WHERE author = 4;
SELECT group_concat(title, '|') FROM (SELECT title FROM book ORDER BY title);
PRAGMA integrity_check;
SELECT typeof(3.5), 7 / 2, 7 % 3, round(2.675, 2);
