// statectl misuse (issue 10), in the spirit of SQLite's misuse tests: a table of hostile command
// lines, each run against the built binary, each with the exact exit code and the exact one-line
// message it must produce. Every row also checks that
//   * the command ends (a 20 s deadline; a hang is a failure, the child is killed);
//   * stderr is exactly one line "statectl: <message>" (or empty on success) and holds no
//     control character, C1 control, bidi override or invalid UTF-8 from the input;
//   * the database is unchanged (see "Unchanged" below).
//
// Unchanged. The database lives alone in a directory. Before and after each row the directory
// is listed and every regular file read. Afterwards every file that was there must still be there
// with the same bytes (the database and its -wal and -gen side files), and no file may have
// appeared, with two exceptions that SQLite itself makes on a read-only open of a WAL database
// and that carry no data: the -shm file (the WAL index, shared memory that SQLite rebuilds from
// the WAL; a reader may create and write it) and an empty -wal file. Nothing may be created for
// a database that did not exist.
//
// Messages are ECMAScript regular expressions matched against the whole text after
// "statectl: "; "{db}" stands for the database path and "{dir}" for its directory (both plain
// ASCII here), already escaped for the regex.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <regex>

#include "statectl_runner.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::Describe;

// What the database argument is.
enum class Db {
  kGood,         // a statestore database with keys, history, a session and config
  kMissing,      // a path where nothing exists
  kDirectory,    // a directory
  kFifo,         // a named pipe (opening it for reading would block)
  kDevNull,      // /dev/null
  kEmpty,        // an empty file
  kText,         // a text file
  kForeign,      // a SQLite database that is not statestore's
  kTrigger,      // a statestore database with a planted trigger
  kView,         // a statestore database with a planted view
  kSymlinkLoop,  // a symlink to itself (through a second link)
  kControlName,  // a missing file whose name holds ESC [2J and a newline
  kLongName,     // a missing file whose name is 5000 characters
  kGenFifo,      // a good database whose change counter "-gen" was replaced by a named pipe
  kHardLinked,   // a good database with a second name (hard link) "app2.db"
};

struct Row {
  const char* name;  // the test's name
  Db db;
  std::vector<std::string> args;  // "{db}" is replaced by the database path, "{in}/" by inputs
  int code;
  const char* err;  // regex for the message after "statectl: "; "" = stderr must be empty
  const char* stdin_path = nullptr;  // nullptr: /dev/null; "{in}/..." an input file
};

// Inputs beside (not in) the database's directory.
constexpr const char* kBig = "{in}/big";           // kMaxValueBytes + 1 bytes
constexpr const char* kBadUtf8 = "{in}/bad-utf8";  // "ok\xff"
constexpr const char* kInDir = "{in}/a-directory";

const std::string kLong(5000, 'x');
const std::string k65(65, 'k');
const std::string k1025(1025, 'k');

// clang-format off
const std::vector<Row> kRows = {
  // ---- the database argument
  {"MissingFile", Db::kMissing, {"inspect", "{db}"}, 3,
   "{db}: no such database file \\(opened read-only\\)"},
  {"MissingFileWrite", Db::kMissing, {"rm", "{db}", "app", "k"}, 3,
   "{db}: no such database file"},
  {"Directory", Db::kDirectory, {"inspect", "{db}"}, 1, "{db}: not a regular file"},
  {"DirectoryWrite", Db::kDirectory, {"set", "{db}", "app", "k", "v"}, 1,
   "{db}: not a regular file"},
  {"Fifo", Db::kFifo, {"inspect", "{db}"}, 1, "{db}: not a regular file"},
  // Side files (issue 10 bugs 2 and 7): a FIFO planted as the change counter must not hang a
  // read-only open, and a second name for the database must be refused before any write.
  {"GenFifoRead", Db::kGenFifo, {"get", "{db}", "app", "greeting"}, 1,
   "{db}-gen is a FIFO, not the 4 KiB change counter statestore keeps there.*"},
  {"GenFifoWrite", Db::kGenFifo, {"set", "{db}", "app", "k", "v"}, 1,
   "{db}-gen is a FIFO, not the 4 KiB change counter statestore keeps there.*"},
  {"HardLinkedRead", Db::kHardLinked, {"get", "{db}", "app", "greeting"}, 1,
   "{db} has 2 hard links\\. SQLite names its -wal and -shm files after the path.*"},
  {"HardLinkedWrite", Db::kHardLinked, {"set", "{db}", "app", "k", "v"}, 1,
   "{db} has 2 hard links\\. SQLite names its -wal and -shm files after the path.*"},
  {"SchemaOnAFileRead", Db::kGood, {"--schema", "shop", "get", "{db}", "app", "greeting"}, 1,
   "{db}: Options::postgres\\.schema \\('shop'\\) names a PostgreSQL schema; an SQLite file "
   "holds one store.*"},
  {"SchemaOnAFileWrite", Db::kGood, {"--schema", "shop", "set", "{db}", "app", "k", "v"}, 1,
   "{db}: Options::postgres\\.schema \\('shop'\\) names a PostgreSQL schema.*"},
  {"SchemaAfterTheCommand", Db::kGood, {"get", "{db}", "app", "greeting", "--schema", "shop"}, 2,
   "--schema is a global option: put it before the command \\(statectl --schema NAME get "
   "\\.\\.\\.\\)"},
  {"FifoFollow", Db::kFifo, {"follow", "{db}"}, 1, "{db}: not a regular file"},
  {"FifoWrite", Db::kFifo, {"set", "{db}", "app", "k", "v"}, 1, "{db}: not a regular file"},
  {"DevNull", Db::kDevNull, {"dump", "{db}"}, 1, "/dev/null: not a regular file"},
  {"EmptyFile", Db::kEmpty, {"inspect", "{db}"}, 1,
   "{db}: empty file, not a statestore database \\(a read-write open would initialize it "
   "as a new, empty store\\)"},
  {"EmptyFileHistory", Db::kEmpty, {"history", "{db}"}, 1,
   "{db}: empty file, not a statestore database \\(a read-write open would initialize it "
   "as a new, empty store\\)"},
  {"TextFile", Db::kText, {"dump", "{db}"}, 1,
   "{db}: cannot prepare statement: file is not a database \\(the file is damaged or not a "
   "database; restore it from a backup\\)"},
  {"TextFileVerify", Db::kText, {"verify", "{db}"}, 1, "{db}: .*file is not a database.*"},
  {"TextFileWrite", Db::kText, {"set", "{db}", "app", "k", "v"}, 1,
   "cannot use {db}: file is not a database \\(the file is damaged or not a database; restore "
   "it from a backup\\)"},
  {"ForeignSqlite", Db::kForeign, {"inspect", "{db}"}, 1,
   "{db}: not a statestore database \\(SQLite application_id 0, 1 schema objects\\); refusing "
   "to touch it"},
  {"ForeignSqliteWrite", Db::kForeign, {"set", "{db}", "app", "k", "v"}, 1,
   "{db}: not a statestore database .*refusing to touch it"},
  {"ForeignSqliteMigrate", Db::kForeign, {"migrate", "{db}", "--status"}, 1,
   "{db}: not a statestore database .*refusing to touch it"},
  {"PlantedTrigger", Db::kTrigger, {"dump", "{db}"}, 1, "{db}: .*trigger 'steal'.*"},
  {"PlantedTriggerSessions", Db::kTrigger, {"sessions", "list", "{db}"}, 1,
   "{db}: .*trigger 'steal'.*"},
  {"PlantedTriggerWrite", Db::kTrigger, {"set", "{db}", "app", "k", "v"}, 1,
   "{db}: .*trigger 'steal'.*"},
  {"PlantedView", Db::kView, {"config", "list", "{db}"}, 1, "{db}: .*view 'spy'.*"},
  {"SymlinkLoop", Db::kSymlinkLoop, {"inspect", "{db}"}, 1,
   "cannot stat {db}: Too many levels of symbolic links"},
  {"ControlCharactersInPath", Db::kControlName, {"get", "{db}", "app", "k"}, 3,
   "{dir}/ctl\\\\x1b\\[2J\\\\nname\\.db: no such database file \\(opened read-only\\)"},
  {"LongPath", Db::kLongName, {"inspect", "{db}"}, 1,
   "cannot stat {dir}/x{5000}: File name too long"},
  {"EmptyPath", Db::kGood, {"inspect", ""}, 2, "the database path is empty"},

  // ---- read commands on a good file succeed and change nothing
  {"InspectGood", Db::kGood, {"inspect", "{db}"}, 0, ""},
  {"DumpGood", Db::kGood, {"dump", "{db}", "--json"}, 0, ""},
  {"HistoryGood", Db::kGood, {"history", "{db}"}, 0, ""},
  {"VerifyGood", Db::kGood, {"verify", "{db}"}, 0, ""},
  {"SessionsGood", Db::kGood, {"sessions", "list", "{db}", "--all"}, 0, ""},
  {"ConfigGood", Db::kGood, {"config", "explain", "{db}", "net.port"}, 0, ""},
  {"DiffGood", Db::kGood, {"diff", "{db}", "0", "2"}, 0, ""},

  // ---- keys and keyspaces the library refuses: usage errors, before the file is opened
  {"KeyspaceEmpty", Db::kGood, {"get", "{db}", "", "k"}, 2, "keyspace name is empty"},
  {"KeyspaceUpperCase", Db::kGood, {"get", "{db}", "App", "k"}, 2,
   "keyspace name \"App\" must start with a lower-case letter a-z"},
  {"KeyspaceBadCharacter", Db::kGood, {"dump", "{db}", "--keyspace", "app/x"}, 2,
   "keyspace name \"app/x\" may contain only a-z, 0-9, '_', '.' and '-'"},
  {"KeyspaceTooLong", Db::kGood, {"history", "{db}", "--keyspace", k65}, 2,
   "keyspace name \"k{40,}.*\" is longer than 64 characters"},
  {"KeyspaceEscape", Db::kGood, {"get", "{db}", "a\x1b[31m", "k"}, 2,
   "keyspace name \"a\\\\x1b\\[31m\" may contain only a-z, 0-9, '_', '.' and '-'"},
  {"KeyEmpty", Db::kGood, {"get", "{db}", "app", ""}, 2, "key is empty"},
  {"KeyTooLong", Db::kGood, {"get", "{db}", "app", k1025}, 2,
   "key \"k+\\.\\.\\.\" is 1025 bytes; the limit is 1024"},
  {"KeyInvalidUtf8", Db::kGood, {"get", "{db}", "app", "a\xff\xfe"}, 2,
   "key \"a\\\\xff\\\\xfe\" is not valid UTF-8"},
  {"KeyOverlongUtf8", Db::kGood, {"rm", "{db}", "app", "\xc0\xaf"}, 2,
   "key \"\\\\xc0\\\\xaf\" is not valid UTF-8"},
  // The shell cannot pass NUL: $'a\0b' arrives as "a", an ordinary key that does not exist.
  {"KeyNulCutByShell", Db::kGood, {"get", "{db}", "app", std::string("a\0b", 3)}, 3,
   "no key 'a' in keyspace 'app'"},
  {"KeyWithEscapesNotFound", Db::kGood, {"get", "{db}", "app", "x\x1b]0;pwned\x07\n\xe2\x80\xae"},
   3, "no key 'x\\\\x1b\\]0;pwned\\\\x07\\\\n\\\\u202e' in keyspace 'app'"},
  {"PrefixTooLong", Db::kGood, {"dump", "{db}", "--prefix", k1025}, 2,
   "prefix is 1025 bytes; the limit is 1024"},
  {"SetBadKeyOnMissingFile", Db::kMissing, {"set", "{db}", "App", "k", "v"}, 2,
   "keyspace name \"App\" must start with a lower-case letter a-z"},
  {"SetSessionsKeyspace", Db::kGood, {"set", "{db}", "sessions", "k", "v"}, 2,
   "keyspace 'sessions' belongs to the sessions API.*"},
  {"SessionShortIdNotHex", Db::kGood, {"sessions", "show", "{db}", "zz\x1b"}, 2,
   "'zz\\\\x1b' is not a session short id .*"},

  // ---- values
  {"ValueFileTooBig", Db::kGood, {"set", "{db}", "app", "k", "--file", kBig}, 2,
   "the value read from --file '.*/big' is larger than 4194304 bytes, the most a string value "
   "can take \\(nothing was written\\)"},
  {"ValueFileTooBigOnMissingFile", Db::kMissing, {"set", "{db}", "app", "k", "--file", kBig}, 2,
   "the value read from --file .* is larger than 4194304 bytes.*"},
  {"ValueStdinTooBig", Db::kGood, {"set", "{db}", "app", "k", "-", "--bytes"}, 2,
   "the value read from standard input is larger than 4194304 bytes, the most a bytes value "
   "can take \\(nothing was written\\)", kBig},
  {"ValueStdinEndless", Db::kGood, {"set", "{db}", "app", "k", "-"}, 2,
   "the value read from standard input is larger than 4194304 bytes.*", "/dev/zero"},
  {"ValueFileDirectory", Db::kGood, {"set", "{db}", "app", "k", "--file", kInDir}, 2,
   "--file '.*/a-directory' is a directory"},
  {"ValueFileMissing", Db::kGood, {"set", "{db}", "app", "k", "--file", "{in}/nope"}, 2,
   "cannot open --file '.*/nope': No such file or directory"},
  {"ValueFileAndArgument", Db::kGood, {"set", "{db}", "app", "k", "v", "--file", kBig}, 2,
   "too many arguments; usage: .*"},
  {"ValueFileNotUtf8", Db::kGood, {"set", "{db}", "app", "k", "--file", kBadUtf8}, 2,
   "value for app/\"k\" is a string that is not valid UTF-8 \\(store binary data as bytes\\)"},
  {"ValueArgumentNotUtf8", Db::kMissing, {"set", "{db}", "app", "k", "ok\xff"}, 2,
   "value for app/\"k\" is a string that is not valid UTF-8 \\(store binary data as bytes\\)"},
  {"ValueMissing", Db::kGood, {"set", "{db}", "app", "k"}, 2, "missing arguments; usage: .*"},
  {"ValueNullWithFile", Db::kGood, {"set", "{db}", "app", "k", "--null", "--file", kBig}, 2,
   "--null takes no value: leave out --file"},
  {"ConfigValueFileTooBig", Db::kGood, {"config", "set", "{db}", "net.port", "--file", kBig}, 2,
   "the value read from --file .* is larger than 4194304 bytes.*"},

  // ---- numbers
  {"IntOverflow", Db::kGood, {"set", "{db}", "app", "n", "9223372036854775808", "--int"}, 2,
   "--int '9223372036854775808' is out of the range of a 64-bit integer "
   "\\(-9223372036854775808\\.\\.9223372036854775807\\)"},
  {"IntUnderflow", Db::kGood, {"set", "{db}", "app", "n", "-9223372036854775809", "--int"}, 2,
   "--int '-9223372036854775809' is out of the range of a 64-bit integer.*"},
  {"IntTrailingGarbage", Db::kGood, {"set", "{db}", "app", "n", "12abc", "--int"}, 2,
   "--int '12abc' is not a decimal integer"},
  {"IntLeadingSpace", Db::kGood, {"set", "{db}", "app", "n", " 12", "--int"}, 2,
   "--int ' 12' is not a decimal integer"},
  {"IntHex", Db::kGood, {"set", "{db}", "app", "n", "0x10", "--int"}, 2,
   "--int '0x10' is not a decimal integer"},
  {"IntEmpty", Db::kGood, {"set", "{db}", "app", "n", "", "--int"}, 2,
   "--int '' is not a decimal integer"},
  {"DoubleOverflow", Db::kGood, {"set", "{db}", "app", "d", "1e309", "--double"}, 2,
   "--double '1e309' overflows a double \\(largest about 1\\.8e308; write inf to mean "
   "infinity\\)"},
  {"DoubleNegativeOverflow", Db::kGood, {"set", "{db}", "app", "d", "-1e309", "--double"}, 2,
   "--double '-1e309' overflows a double.*"},
  {"DoubleUnderflow", Db::kGood, {"set", "{db}", "app", "d", "1e-400", "--double"}, 2,
   "--double '1e-400' underflows a double to 0"},
  {"DoubleNan", Db::kGood, {"set", "{db}", "app", "d", "nan", "--double"}, 2,
   "--double 'nan' is refused: a double may hold any number, inf or -inf, but not NaN"},
  {"DoubleNegativeNan", Db::kGood, {"set", "{db}", "app", "d", "--type", "double", "--", "-NaN"},
   2,
   "--double '-NaN' is refused.*"},
  {"DoubleInfinityWord", Db::kGood, {"set", "{db}", "app", "d", "infinity", "--double"}, 2,
   "--double 'infinity' is not a decimal number \\(e\\.g\\. 0\\.25, -3, 1e-9, inf, -inf\\)"},
  {"DoubleHexFloat", Db::kGood, {"set", "{db}", "app", "d", "0x1p3", "--double"}, 2,
   "--double '0x1p3' is not a decimal number.*"},
  {"DoubleTrailingGarbage", Db::kGood, {"set", "{db}", "app", "d", "1.5x", "--double"}, 2,
   "--double '1\\.5x' is not a decimal number.*"},
  {"DoubleConfig", Db::kGood, {"config", "set", "{db}", "ratio", "nan", "--type", "double"}, 2,
   "--double 'nan' is refused.*"},
  {"BoolWord", Db::kGood, {"set", "{db}", "app", "b", "yes", "--bool"}, 2,
   "--bool 'yes' is not a bool \\(true, false, 1 or 0\\)"},
  {"HexOdd", Db::kGood, {"set", "{db}", "app", "h", "abc", "--bytes-hex"}, 2,
   "hex value 'abc' has an odd number of digits"},
  {"HexNotHex", Db::kGood, {"set", "{db}", "app", "h", "zz", "--bytes-hex"}, 2,
   "hex value 'zz' is not hex digits"},
  // ---- declared settings (issue 11): every refusal is the library's message, exit 2, and the
  // database is unchanged (byte for byte, checked for every row)
  {"ConfigDeclaredWrongType", Db::kGood,
   {"config", "set", "{db}", "http.rate_limit", "500", "--type", "string"}, 2,
   "config key \"http\\.rate_limit\": value \"500\" \\(string\\) rejected by its declaration "
   "\\(int, min 1, max 10000, default 100\\): expected int, got string"},
  {"ConfigDeclaredBelowMin", Db::kGood, {"config", "set", "{db}", "http.rate_limit", "0"}, 2,
   "config key \"http\\.rate_limit\": value 0 \\(int\\) rejected by its declaration "
   "\\(int, min 1, max 10000, default 100\\): 0 is below the minimum 1"},
  {"ConfigDeclaredNegative", Db::kGood, {"config", "set", "{db}", "http.rate_limit", "-5"}, 2,
   "config key \"http\\.rate_limit\": value -5 \\(int\\) rejected .*: -5 is below the minimum 1"},
  {"ConfigDeclaredAboveMax", Db::kGood,
   {"config", "set", "{db}", "http.rate_limit", "--", "10001"}, 2,
   ".*10001 is above the maximum 10000"},
  {"ConfigDeclaredNotAnInt", Db::kGood, {"config", "set", "{db}", "http.rate_limit", "fast"}, 2,
   "--int 'fast' is not a decimal integer"},
  {"ConfigDeclaredNotOneOf", Db::kGood, {"config", "set", "{db}", "log.mode", "xml"}, 2,
   "config key \"log\\.mode\": value \"xml\" \\(string\\) rejected by its declaration "
   "\\(string, one of \\{\"json\", \"text\"\\}, default \"text\"\\): not one of "
   "\\{\"json\", \"text\"\\}"},
  {"ConfigDeclaredRegex", Db::kGood, {"config", "set", "{db}", "site.name", "<script>"}, 2,
   "config key \"site\\.name\": value \"<script>\" \\(string\\) rejected by its declaration "
   "\\(string, regex /\\[A-Za-z0-9 \\]\\+/, max length 8\\): does not match "
   "/\\[A-Za-z0-9 \\]\\+/"},
  {"ConfigDeclaredTooLong", Db::kGood, {"config", "set", "{db}", "site.name", "abcdefghi"}, 2,
   ".*: is 9 characters long; the maximum length is 8"},
  {"ConfigDeclaredJsonType", Db::kGood,
   {"config", "set", "{db}", "http.rate_limit", "[1]", "--type", "json"}, 2,
   ".*\\(json\\) rejected by its declaration .*: expected int, got json"},
  {"ConfigDeclareMinAboveMax", Db::kGood, {"config", "declare", "{db}", "{in}/min-max.json"}, 2,
   "declaration of config key \"a\\.b\": min 10 is above max 5"},
  {"ConfigDeclareUnknownType", Db::kGood, {"config", "declare", "{db}", "{in}/float.json"}, 2,
   "declaration of config key \"a\\.b\": unknown type \"float\" \\(one of bool, int, double, "
   "string, bytes, json\\)"},
  {"ConfigDeclareBadRegex", Db::kGood, {"config", "declare", "{db}", "{in}/bad-regex.json"}, 2,
   "declaration of config key \"a\\.b\": regex /\\(\\[a-z\\]/ is not a valid ECMAScript regular "
   "expression: .*"},
  {"ConfigDeclareDefaultViolates", Db::kGood,
   {"config", "declare", "{db}", "{in}/bad-default.json"}, 2,
   "declaration of config key \"a\\.b\": default 0 violates the declaration: 0 is below the "
   "minimum 1"},
  {"ConfigUndeclareUnknown", Db::kGood, {"config", "undeclare", "{db}", "net.port"}, 3,
   "config key 'net\\.port' is not declared"},
  {"ConfigUnknownType", Db::kGood, {"config", "set", "{db}", "k", "v", "--type", "blob"}, 2,
   "--type must be string, int, double, bool, bytes, bytes-hex or json, not 'blob'"},

  // ---- revisions
  {"ShowZero", Db::kGood, {"show", "{db}", "0"}, 2,
   "REV '0' is not a revision: revisions start at 1"},
  {"ShowNegative", Db::kGood, {"show", "{db}", "-5"}, 2, "REV '-5' is not a revision number \\(decimal digits\\)"},
  {"ShowNotANumber", Db::kGood, {"show", "{db}", "abc"}, 2,
   "REV 'abc' is not a revision number \\(decimal digits\\)"},
  {"ShowFraction", Db::kGood, {"show", "{db}", "1.5"}, 2,
   "REV '1\\.5' is not a revision number \\(decimal digits\\)"},
  {"ShowHuge", Db::kGood, {"show", "{db}", "99999999999999999999"}, 2,
   "REV '99999999999999999999' is out of range for a revision"},
  {"DiffNotANumber", Db::kGood, {"diff", "{db}", "1", "2x"}, 2,
   "REV2 '2x' is not a revision number \\(decimal digits\\)"},
  {"FollowFromZero", Db::kGood, {"follow", "{db}", "--from", "0"}, 2,
   "--from '0' is not a revision: revisions start at 1"},
  {"FollowFromNegative", Db::kGood, {"follow", "{db}", "--from=-1"}, 2,
   "--from '-1' is not a revision number \\(decimal digits\\)"},
  {"FollowIntervalZero", Db::kGood, {"follow", "{db}", "--interval-ms", "0"}, 2,
   "--interval-ms '0' must be 1\\.\\.60000"},
  {"FollowIntervalGarbage", Db::kGood, {"follow", "{db}", "--interval-ms", "10x"}, 2,
   "--interval-ms '10x' is not a whole number"},
  {"RevertZero", Db::kGood, {"revert", "{db}", "0"}, 2,
   "REV '0' is not a revision: revisions start at 1"},
  {"ConfigRevertNotANumber", Db::kGood, {"config", "revert", "{db}", "x"}, 2,
   "REV 'x' is not a revision number \\(decimal digits\\)"},
  {"HistoryUntilZero", Db::kGood, {"history", "{db}", "--until", "0"}, 2,
   "--until 0 matches nothing; revisions start at 1"},

  // ---- counts
  {"LimitNegative", Db::kGood, {"history", "{db}", "--limit", "-1"}, 2,
   "--limit '-1' is not a whole number >= 1"},
  {"LimitZero", Db::kGood, {"history", "{db}", "--limit", "0"}, 2,
   "--limit '0' must be at least 1 \\(leave the option out for no limit\\)"},
  {"LimitOverflow", Db::kGood, {"history", "{db}", "--limit", "18446744073709551617"}, 2,
   "--limit '18446744073709551617' is out of range \\(at most 18 digits\\)"},
  {"LimitGarbage", Db::kGood, {"history", "{db}", "--limit", "5k"}, 2,
   "--limit '5k' is not a whole number >= 1"},
  {"SessionsLimitNegative", Db::kGood, {"sessions", "list", "{db}", "--limit", "-1"}, 2,
   "--limit '-1' is not a whole number >= 1"},
  {"KeepNegative", Db::kGood, {"compact-history", "{db}", "--keep", "-1"}, 2,
   "--keep '-1' is not a whole number >= 1"},
  {"KeepZero", Db::kGood, {"compact-history", "{db}", "--keep", "0"}, 2,
   "--keep '0' must be at least 1 \\(leave the option out for no limit\\)"},
  {"StepPagesZero", Db::kGood, {"backup", "{db}", "{in}/copy.db", "--step-pages", "0"}, 2,
   "--step-pages must be -1 \\(all in one step\\) or at least 1, not 0"},
  {"OriginPidGarbage", Db::kGood, {"history", "{db}", "--origin", "pid:12a"}, 2,
   "--origin pid: '12a' is not a whole number"},

  // ---- times and durations
  {"SinceFebruary30", Db::kGood, {"history", "{db}", "--since", "2026-02-30T00:00:00Z"}, 2,
   "--since '2026-02-30T00:00:00Z' is not a valid ISO-8601 UTC time \\(day 30 does not exist "
   "in 2026-02; the form is YYYY-MM-DD\\[THH:MM:SS\\[\\.fraction\\]\\[Z\\]\\], e\\.g\\. "
   "2026-01-31T12:00:00Z\\)"},
  {"SinceFebruary29NotLeap", Db::kGood, {"history", "{db}", "--since", "2027-02-29"}, 2,
   "--since '2027-02-29' is not a valid ISO-8601 UTC time \\(day 29 does not exist in "
   "2027-02;.*"},
  {"SinceMonth13", Db::kGood, {"history", "{db}", "--since", "2026-13-01"}, 2,
   ".*\\(month 13 does not exist;.*"},
  {"SinceHour24", Db::kGood, {"history", "{db}", "--since", "2026-01-31T24:00:00Z"}, 2,
   ".*\\(hour 24 is out of range 00\\.\\.23;.*"},
  {"SinceMinute60", Db::kGood, {"history", "{db}", "--since", "2026-01-31T12:60:00Z"}, 2,
   ".*\\(minute 60 is out of range 00\\.\\.59;.*"},
  {"SinceSecond60", Db::kGood, {"history", "{db}", "--until", "2026-01-31T12:00:60Z"}, 2,
   "--until .*\\(second 60 is out of range 00\\.\\.59;.*"},
  {"SinceTrailingGarbage", Db::kGood, {"history", "{db}", "--since", "2026-01-31T12:00:00Zjunk"},
   2, ".*\\(unexpected 'Zjunk' after the time \\(only Z or \\+00:00: times are UTC\\);.*"},
  {"SinceOtherZone", Db::kGood, {"history", "{db}", "--since", "2026-01-31T12:00:00+02:00"}, 2,
   ".*\\(unexpected '\\+02:00' after the time.*"},
  {"SinceSignedMonth", Db::kGood, {"history", "{db}", "--since", "2026-+1-01"}, 2,
   ".*\\(expected 2 digits at position 6;.*"},
  {"SinceNoSeconds", Db::kGood, {"history", "{db}", "--since", "2026-01-31T12:00"}, 2,
   ".*\\(expected ':' after the minutes;.*"},
  {"SinceYear1969", Db::kGood, {"history", "{db}", "--since", "1969-12-31"}, 2,
   ".*\\(the year must be 1970\\.\\.2261;.*"},
  {"SinceDurationBadUnit", Db::kGood, {"history", "{db}", "--since", "10x"}, 2,
   "--since '10x' is not a duration: the unit must be ms, s, m, h, d or w"},
  {"SinceNegativeDuration", Db::kGood, {"history", "{db}", "--since", "-5m"}, 2,
   "--since '-5m' is neither a revision, an ISO-8601 UTC time \\(2026-01-31T12:00:00Z\\) nor a "
   "duration ago \\(10m, 2h, 3d\\)"},
  {"SinceDurationTooLong", Db::kGood, {"history", "{db}", "--since", "999999999w"}, 2,
   "--since '999999999w' is longer than 100 years"},
  {"OlderThanNegative", Db::kGood, {"compact-history", "{db}", "--older-than=-5m"}, 2,
   "--older-than '-5m' is not a duration \\(digits and a unit: 30s, 10m, 2h, 3d, 1w\\)"},
  {"OlderThanNoUnit", Db::kGood, {"compact-history", "{db}", "--older-than", "10"}, 2,
   "--older-than '10' is not a duration: the unit must be ms, s, m, h, d or w"},
  {"OlderThanZero", Db::kGood, {"compact-history", "{db}", "--older-than", "0s"}, 2,
   "--older-than must be at least 1s"},

  // ---- the command line itself
  {"NoCommand", Db::kGood, {}, 2,
   "missing command after 'statectl' \\(one of: inspect, dump, get, .*\\) \\(run 'statectl "
   "--help'\\)"},
  {"UnknownCommand", Db::kGood, {"frobnicate", "{db}"}, 2,
   "unknown command 'frobnicate' after 'statectl' \\(one of: inspect, .*\\) \\(run 'statectl "
   "--help'\\)"},
  {"UnknownCommandWithEscape", Db::kGood, {"\x1b[2Jx", "{db}"}, 2,
   "unknown command '\\\\x1b\\[2Jx' after 'statectl' .*"},
  {"UnknownOption", Db::kGood, {"inspect", "{db}", "--no-such-flag"}, 2,
   "unknown option '--no-such-flag' for 'statectl inspect' \\(see --help; put an argument that "
   "starts with '-' after --\\)"},
  {"UnknownOptionWithEscape", Db::kGood, {"inspect", "{db}", "--x\x1b[2J"}, 2,
   "unknown option '--x\\\\x1b\\[2J' for 'statectl inspect' .*"},
  {"UnknownOptionOfNestedCommand", Db::kGood, {"sessions", "list", "{db}", "-q"}, 2,
   "unknown option '-q' for 'statectl sessions list' .*"},
  {"ValueStartingWithDash", Db::kGood, {"set", "{db}", "app", "k", "-x"}, 2,
   "unknown option '-x' for 'statectl set' \\(see --help; put an argument that starts with '-' "
   "after --\\)"},
  {"MissingArguments", Db::kGood, {"get", "{db}", "app"}, 2,
   "missing arguments; usage: statectl get DB KEYSPACE KEY.*"},
  {"TooManyArguments", Db::kGood, {"show", "{db}", "1", "2"}, 2,
   "too many arguments; usage: statectl show DB REV"},
  {"MissingSubcommand", Db::kGood, {"sessions", "{db}"}, 2,
   "unknown command '{db}' after 'statectl sessions' \\(one of: list, show, sweep\\) \\(run "
   "'statectl --help'\\)"},
  {"MissingSubcommandAtEnd", Db::kGood, {"config"}, 2,
   "missing command after 'statectl config' \\(one of: get, set, rm, list, explain, declare, "
   "undeclare, history, revert\\) "
   "\\(run 'statectl --help'\\)"},
  {"ConfigSetMissingValue", Db::kGood, {"config", "set", "{db}", "net.port"}, 2,
   "missing arguments; usage: .*"},
  {"RawAndJson", Db::kGood, {"get", "{db}", "app", "greeting", "--raw", "--json"}, 2,
   "give at most one of --raw and --json"},
  {"TwoTypes", Db::kGood, {"set", "{db}", "app", "k", "1", "--int", "--double"}, 2,
   "give at most one of --string, --int, --double, --bool, --bytes, --bytes-hex, --null"},
  {"CompactNeitherOption", Db::kGood, {"compact-history", "{db}"}, 2,
   "give exactly one of --keep N \\(N >= 1\\) or --older-than DURATION"},
  // vacuum (issue 11): a write command; nothing is created, nothing foreign is rewritten.
  {"VacuumMissing", Db::kMissing, {"vacuum", "{db}"}, 3, "{db}: no such database file"},
  {"VacuumDirectory", Db::kDirectory, {"vacuum", "{db}"}, 1, "{db}: not a regular file"},
  {"VacuumForeign", Db::kForeign, {"vacuum", "{db}"}, 1,
   "{db}: not a statestore database .*refusing to touch it"},
  {"VacuumTrigger", Db::kTrigger, {"vacuum", "{db}"}, 1, "{db}: .*trigger 'steal'.*"},
  {"VacuumMissingJson", Db::kMissing, {"vacuum", "{db}", "--json"}, 3,
   "{db}: no such database file"},
  {"VacuumExtraArgument", Db::kGood, {"vacuum", "{db}", "more"}, 2,
   "too many arguments; usage: statectl vacuum DB"},
  {"HistoryReverseAndNewestFirst", Db::kGood, {"history", "{db}", "--reverse", "--newest-first"},
   2, "--reverse excludes --newest-first \\(run 'statectl --help' or 'statectl COMMAND --help'\\)"},
  {"SessionsLimitAndNoLimit", Db::kGood,
   {"sessions", "list", "{db}", "--no-limit", "--limit", "5"}, 2,
   "--limit excludes --no-limit \\(run 'statectl --help' or 'statectl COMMAND --help'\\)"},
  {"PolicyNoSubcommand", Db::kGood, {"history-policy"}, 2,
   "missing command after 'statectl history-policy' \\(one of: set\\) \\(run 'statectl "
   "--help'\\)"},
  {"PolicyNoOption", Db::kGood, {"history-policy", "set", "{db}", "app"}, 2,
   "give exactly one of --keep-revisions N, --keep-for DURATION, --none, --keep-all"},
  {"PolicyTwoOptions", Db::kGood, {"history-policy", "set", "{db}", "app", "--none", "--keep-all"},
   2, "give exactly one of --keep-revisions N, --keep-for DURATION, --none, --keep-all"},
  {"PolicyKeepRevisionsZero", Db::kGood,
   {"history-policy", "set", "{db}", "app", "--keep-revisions", "0"}, 2,
   "--keep-revisions '0' must be at least 1 \\(leave the option out for no limit\\)"},
  {"PolicyKeepRevisionsGarbage", Db::kGood,
   {"history-policy", "set", "{db}", "app", "--keep-revisions", "1e3"}, 2,
   "--keep-revisions '1e3' is not a whole number >= 1"},
  {"PolicyKeepForSubSecond", Db::kGood,
   {"history-policy", "set", "{db}", "app", "--keep-for", "500ms"}, 2,
   "--keep-for must be at least 1s"},
  {"PolicyKeepForFraction", Db::kGood,
   {"history-policy", "set", "{db}", "app", "--keep-for", "1500ms"}, 2,
   "--keep-for must be whole seconds"},
  {"PolicyKeepForNoUnit", Db::kGood, {"history-policy", "set", "{db}", "app", "--keep-for", "10"},
   2, "--keep-for '10' is not a duration: the unit must be ms, s, m, h, d or w"},
  {"PolicyBadKeyspace", Db::kGood, {"history-policy", "set", "{db}", "Bad", "--none"}, 2,
   "keyspace name .*Bad.* must start with a lower-case letter a-z"},
  {"PolicyMissingKeyspace", Db::kGood, {"history-policy", "set", "{db}", "--none"}, 2,
   "missing arguments; usage: .*"},
  {"PolicyMissingDb", Db::kMissing, {"history-policy", "set", "{db}", "app", "--none"}, 3,
   ".*"},
};
// clang-format on

std::string RegexEscape(const std::string& s) {
  static const std::regex kSpecial(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, kSpecial, R"(\$&)");
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

void Sqlite(const std::string& db, const std::string& sql) {
  auto child = test::ChildProcess::Spawn({test::kSqliteShellPath, db});
  child.Write(sql + "\n.quit\n");
  child.CloseStdin();
  std::string out = child.ReadAll(std::chrono::seconds(30));
  ASSERT_EQ(child.Wait(std::chrono::seconds(30)), 0) << out;
}

void BuildGood(const std::string& path) {
  Options o;
  o.sessions.sweep_interval = std::chrono::milliseconds(0);
  auto store = Store::open(path, o);
  store->put("app", "greeting", Value("hello"));
  store->put("app", "count", Value(42));
  store->sessions().create(std::chrono::hours(1), {{"user", Value("alice")}}, "alice");
  store->config().set("net.port", ConfigValue(8080));
  SettingDeclaration rate;
  rate.key = "http.rate_limit";
  rate.type = ConfigType::kInt;
  rate.default_value = ConfigValue(100);
  rate.min = ConfigValue(1);
  rate.max = ConfigValue(10000);
  SettingDeclaration mode;
  mode.key = "log.mode";
  mode.one_of = {ConfigValue("json"), ConfigValue("text")};
  mode.default_value = ConfigValue("text");
  SettingDeclaration name;
  name.key = "site.name";
  name.regex = "[A-Za-z0-9 ]+";
  name.max_length = 8;
  store->config().declare({rate, mode, name});
}

// Makes the database of `kind` in `dir` and returns its path.
std::string MakeDb(Db kind, const std::string& dir) {
  const std::string path = dir + "/app.db";
  switch (kind) {
    case Db::kGood:
      BuildGood(path);
      break;
    case Db::kMissing:
      break;
    case Db::kDirectory:
      EXPECT_EQ(::mkdir(path.c_str(), 0700), 0);
      break;
    case Db::kFifo:
      EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
      break;
    case Db::kDevNull:
      return "/dev/null";
    case Db::kEmpty:
      test::WriteFile(path, "");
      break;
    case Db::kText:
      test::WriteFile(path, "these are my notes, not a database\n" + std::string(5000, 'n'));
      break;
    case Db::kForeign:
      Sqlite(path, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');");
      break;
    case Db::kTrigger:
      BuildGood(path);
      Sqlite(path,
             "CREATE TABLE stolen (key TEXT);\n"
             "CREATE TRIGGER steal AFTER INSERT ON entries BEGIN INSERT INTO stolen "
             "VALUES (new.key); END;");
      break;
    case Db::kView:
      BuildGood(path);
      Sqlite(path, "CREATE VIEW spy AS SELECT randomblob(16);");
      break;
    case Db::kSymlinkLoop:
      EXPECT_EQ(::symlink((dir + "/other").c_str(), path.c_str()), 0);
      EXPECT_EQ(::symlink(path.c_str(), (dir + "/other").c_str()), 0);
      break;
    case Db::kControlName:
      return dir + "/ctl\x1b[2J\nname.db";
    case Db::kLongName:
      return dir + "/" + kLong;
    case Db::kGenFifo:
      BuildGood(path);
      EXPECT_EQ(::unlink((path + "-gen").c_str()), 0);
      EXPECT_EQ(::mkfifo((path + "-gen").c_str(), 0600), 0);
      break;
    case Db::kHardLinked:
      BuildGood(path);
      EXPECT_EQ(::link(path.c_str(), (dir + "/app2.db").c_str()), 0);
      break;
  }
  return path;
}

struct Entry {
  bool regular = false;
  std::string bytes;
};

// Every entry of `dir` (not recursive), with the bytes of regular files.
std::map<std::string, Entry> Snapshot(const std::string& dir) {
  std::map<std::string, Entry> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    Entry entry;
    std::error_code ec;
    entry.regular = e.is_regular_file(ec) && !e.is_symlink(ec);
    if (entry.regular) entry.bytes = test::ReadFile(e.path().string());
    out[e.path().filename().string()] = std::move(entry);
  }
  return out;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void ExpectUnchanged(const std::map<std::string, Entry>& before,
                     const std::map<std::string, Entry>& after) {
  for (const auto& [name, entry] : before) {
    if (EndsWith(name, "-shm")) continue;
    auto it = after.find(name);
    ASSERT_TRUE(it != after.end()) << name << " was removed";
    EXPECT_EQ(it->second.regular, entry.regular) << name;
    EXPECT_TRUE(it->second.bytes == entry.bytes) << name << " changed";
  }
  for (const auto& [name, entry] : after) {
    if (before.count(name) != 0 || EndsWith(name, "-shm")) continue;
    EXPECT_TRUE(EndsWith(name, "-wal") && entry.regular && entry.bytes.empty())
        << name << " was created";
  }
}

// No byte of `text` may drive a terminal: no C0 control but the final newline, no DEL, no C1
// control (UTF-8 C2 80..C2 9F), no bidi override or isolate, nothing that is not UTF-8.
void ExpectInert(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n' && i + 1 == text.size()) continue;
    ASSERT_FALSE(c < 0x20 || c == 0x7f) << "control byte at " << i << " in: " << text;
    ASSERT_FALSE(c == 0xc2 && i + 1 < text.size() &&
                 static_cast<unsigned char>(text[i + 1]) <= 0x9f)
        << "C1 control at " << i;
    ASSERT_FALSE(text.compare(i, 2, "\xe2\x80") == 0 && i + 2 < text.size() &&
                 static_cast<unsigned char>(text[i + 2]) >= 0xaa &&
                 static_cast<unsigned char>(text[i + 2]) <= 0xae)
        << "bidi override at " << i;
    ASSERT_FALSE(c >= 0xf8 || c == 0xc0 || c == 0xc1) << "invalid UTF-8 at " << i;
  }
}

class StatectlMisuse : public ::testing::TestWithParam<Row> {};

TEST_P(StatectlMisuse, ExactExitCodeAndMessageNothingChanged) {
  const Row& row = GetParam();
  test::TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  const std::string in = tmp.path() + "/in";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(in.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((in + "/a-directory").c_str(), 0700), 0);
  test::WriteFile(in + "/big", std::string(kMaxValueBytes + 1, 'a'));
  test::WriteFile(in + "/bad-utf8", "ok\xff");
  test::WriteFile(in + "/min-max.json", R"({"a.b": {"type": "int", "min": 10, "max": 5}})");
  test::WriteFile(in + "/float.json", R"({"a.b": {"type": "float"}})");
  test::WriteFile(in + "/bad-regex.json", R"({"a.b": {"type": "string", "regex": "([a-z]"}})");
  test::WriteFile(in + "/bad-default.json", R"({"a.b": {"type": "int", "min": 1, "default": 0}})");
  test::WriteFile(in + "/port-string.json", R"({"net.port": {"type": "string"}})");
  const std::string db = MakeDb(row.db, dir);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());

  std::vector<std::string> args;
  for (const auto& a : row.args) args.push_back(Replace(Replace(a, "{db}", db), "{in}", in));
  test::CtlOptions options;
  options.timeout = std::chrono::seconds(20) * (test::kUnderSanitizer ? 3 : 1);
  if (row.stdin_path != nullptr) options.stdin_path = Replace(row.stdin_path, "{in}", in);

  const auto before = Snapshot(dir);
  const test::CtlResult r = test::RunStatectl(args, options);
  const auto after = Snapshot(dir);

  ASSERT_FALSE(r.timed_out) << Describe(r);
  EXPECT_EQ(r.code, row.code) << Describe(r);
  if (*row.err == '\0') {
    EXPECT_EQ(r.err, "") << Describe(r);
  } else {
    ASSERT_EQ(r.err.rfind("statectl: ", 0), 0u) << Describe(r);
    ASSERT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
    ASSERT_EQ(r.err.back(), '\n') << Describe(r);
    const std::string message = r.err.substr(10, r.err.size() - 11);
    const std::string pattern =
        Replace(Replace(row.err, "{db}", RegexEscape(db)), "{dir}", RegexEscape(dir));
    EXPECT_TRUE(std::regex_match(message, std::regex(pattern)))
        << "message: " << message << "\npattern: " << pattern;
    ExpectInert(r.err);
    const bool json = std::find(args.begin(), args.end(), "--json") != args.end();
    if (!json) {
      EXPECT_EQ(r.out, "") << "a failing command printed to stdout";
    }
  }
  ExpectUnchanged(before, after);
}

INSTANTIATE_TEST_SUITE_P(Rows, StatectlMisuse, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace statestore
