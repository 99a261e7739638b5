// admin/admin_pg.h: PgForEachRow — reading a large result through a server-side cursor.
#include <string>

#include "admin/admin_pg.h"

namespace statestore::internal {

namespace {

constexpr int kFetchRows = 2000;

}  // namespace

void PgForEachRow(PgConnection& c, const char* cursor, const std::string& sql,
                  const std::function<void(const PgResult&, int)>& row) {
  const std::string name(cursor);
  c.ExecScript("cannot open a cursor",
               ("DECLARE " + name + " NO SCROLL CURSOR FOR " + sql).c_str());
  const std::string fetch = "FETCH " + std::to_string(kFetchRows) + " FROM " + name;
  for (;;) {
    PgResult r = c.Exec("cannot read through a cursor", fetch.c_str());
    for (int i = 0; i < r.rows(); ++i) row(r, i);
    if (r.rows() < kFetchRows) break;
  }
  c.ExecScript("cannot close a cursor", ("CLOSE " + name).c_str());
}

}  // namespace statestore::internal
