#include "report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace statestore::bench {
namespace {

constexpr int kWidth = 860;
constexpr int kHeight = 480;
constexpr int kLeft = 80;  // plot area
constexpr int kRight = 640;
constexpr int kTop = 50;
constexpr int kBottom = 420;

const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Human(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%gM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%gk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

// A log10 y axis covering [lo, hi] in whole decades.
struct LogAxis {
  double lo_exp = 0, hi_exp = 1;
  LogAxis(double lo, double hi) {
    lo_exp = std::floor(std::log10(std::max(lo, 1e-9)));
    hi_exp = std::ceil(std::log10(std::max(hi, 1e-9)));
    if (hi_exp <= lo_exp) hi_exp = lo_exp + 1;
  }
  double Y(double v) const {
    const double e = std::log10(std::max(v, std::pow(10.0, lo_exp)));
    return kBottom - (e - lo_exp) / (hi_exp - lo_exp) * (kBottom - kTop);
  }
  void Draw(std::ostringstream& svg, const std::string& label) const {
    for (double e = lo_exp; e <= hi_exp; e += 1) {
      for (int m : {1, 2, 5}) {
        const double v = m * std::pow(10.0, e);
        if (e == hi_exp && m > 1) break;
        const double y = Y(v);
        svg << "<line x1='" << kLeft << "' x2='" << kRight << "' y1='" << y << "' y2='" << y
            << "' stroke='" << (m == 1 ? "#bbb" : "#e5e5e5") << "'/>\n";
        svg << "<text x='" << kLeft - 6 << "' y='" << y + 4 << "' text-anchor='end' font-size='11'>"
            << Human(v) << "</text>\n";
      }
    }
    svg << "<text transform='translate(18," << (kTop + kBottom) / 2
        << ") rotate(-90)' text-anchor='middle' font-size='12'>" << Escape(label) << "</text>\n";
  }
};

void Begin(std::ostringstream& svg, const std::string& title) {
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kWidth << "' height='" << kHeight
      << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='" << kWidth / 2 << "' y='24' text-anchor='middle' font-size='15'>"
      << Escape(title) << "</text>\n";
}

void Legend(std::ostringstream& svg, const std::vector<std::string>& engines) {
  for (std::size_t i = 0; i < engines.size(); ++i) {
    const int y = kTop + 10 + static_cast<int>(i) * 20;
    svg << "<rect x='" << kRight + 20 << "' y='" << y - 9 << "' width='14' height='10' fill='"
        << kColors[i % std::size(kColors)] << "'/>\n<text x='" << kRight + 40 << "' y='" << y
        << "' font-size='12'>" << Escape(engines[i]) << "</text>\n";
  }
}

void Save(const std::ostringstream& svg, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::trunc);
  out << svg.str() << "</svg>\n";
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

void WriteWritersSvg(const std::vector<Row>& rows, const std::vector<std::string>& engines,
                     const std::filesystem::path& path, const std::string& title) {
  std::set<int> thread_set;
  double lo = 1e300, hi = 0;
  for (const Row& r : rows) {
    if (r.section != "writers" || r.ops_per_s <= 0) continue;
    thread_set.insert(r.threads);
    lo = std::min(lo, r.ops_per_s);
    hi = std::max(hi, r.ops_per_s);
  }
  if (thread_set.empty()) return;
  const std::vector<int> threads(thread_set.begin(), thread_set.end());
  auto x = [&](std::size_t i) {
    return threads.size() == 1 ? (kLeft + kRight) / 2.0
                               : kLeft + 30 +
                                     static_cast<double>(i) * (kRight - kLeft - 60) /
                                         static_cast<double>(threads.size() - 1);
  };
  const LogAxis axis(lo, hi);
  std::ostringstream svg;
  Begin(svg, title);
  axis.Draw(svg, "commits/s (log scale)");
  for (std::size_t i = 0; i < threads.size(); ++i) {
    svg << "<text x='" << x(i) << "' y='" << kBottom + 18 << "' text-anchor='middle' "
        << "font-size='12'>" << threads[i] << "</text>\n";
  }
  svg << "<text x='" << (kLeft + kRight) / 2 << "' y='" << kBottom + 40
      << "' text-anchor='middle' font-size='12'>writer threads</text>\n";
  for (std::size_t e = 0; e < engines.size(); ++e) {
    const char* color = kColors[e % std::size(kColors)];
    std::ostringstream points;
    for (std::size_t i = 0; i < threads.size(); ++i) {
      const std::optional<Row> r = FindRow(rows, "writers", engines[e], threads[i]);
      if (!r || r->ops_per_s <= 0) continue;
      points << x(i) << "," << axis.Y(r->ops_per_s) << " ";
      svg << "<circle cx='" << x(i) << "' cy='" << axis.Y(r->ops_per_s) << "' r='3.5' fill='"
          << color << "'><title>" << Escape(engines[e]) << ", " << threads[i]
          << " threads: " << static_cast<long long>(r->ops_per_s) << " commits/s</title>"
          << "</circle>\n";
    }
    svg << "<polyline fill='none' stroke-width='2' stroke='" << color << "' points='"
        << points.str() << "'/>\n";
  }
  Legend(svg, engines);
  Save(svg, path);
}

void WriteReadsSvg(const std::vector<Row>& rows, const std::vector<std::string>& engines,
                   const std::filesystem::path& path, const std::string& title) {
  std::set<std::pair<bool, int>> group_set;  // (writer, threads)
  double lo = 1e300, hi = 0;
  for (const Row& r : rows) {
    if (r.section != "reads" || r.ops_per_s <= 0) continue;
    group_set.insert({r.concurrent_writer, r.threads});
    lo = std::min(lo, r.ops_per_s);
    hi = std::max(hi, r.ops_per_s);
  }
  if (group_set.empty()) return;
  const std::vector<std::pair<bool, int>> groups(group_set.begin(), group_set.end());
  const LogAxis axis(lo, hi);
  std::ostringstream svg;
  Begin(svg, title);
  axis.Draw(svg, "reads/s (log scale)");
  const double group_w = static_cast<double>(kRight - kLeft) / static_cast<double>(groups.size());
  const double bar_w =
      (group_w - 20) / static_cast<double>(std::max<std::size_t>(engines.size(), 1));
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double gx = kLeft + static_cast<double>(g) * group_w + 10;
    svg << "<text x='" << gx + (group_w - 20) / 2 << "' y='" << kBottom + 18
        << "' text-anchor='middle' font-size='12'>" << groups[g].second
        << (groups[g].second == 1 ? " thread" : " threads") << "</text>\n<text x='"
        << gx + (group_w - 20) / 2 << "' y='" << kBottom + 34
        << "' text-anchor='middle' font-size='11'>"
        << (groups[g].first ? "with writer" : "no writer") << "</text>\n";
    for (std::size_t e = 0; e < engines.size(); ++e) {
      const std::optional<Row> r =
          FindRow(rows, "reads", engines[e], groups[g].second, groups[g].first);
      if (!r || r->ops_per_s <= 0) continue;
      const double y = axis.Y(r->ops_per_s);
      svg << "<rect x='" << gx + static_cast<double>(e) * bar_w << "' y='" << y << "' width='"
          << bar_w - 2 << "' height='" << kBottom - y << "' fill='"
          << kColors[e % std::size(kColors)] << "'><title>" << Escape(engines[e]) << ": "
          << static_cast<long long>(r->ops_per_s) << " reads/s</title></rect>\n";
    }
  }
  Legend(svg, engines);
  Save(svg, path);
}

void WriteCostSvg(const std::vector<Row>& rows, const std::vector<std::string>& engines,
                  double Row::*metric, const std::string& axis_label,
                  const std::filesystem::path& path, const std::string& title) {
  std::set<int> thread_set;
  std::vector<std::string> shown;  // engines with the metric, in `engines` order
  double lo = 1e300, hi = 0;
  for (const std::string& e : engines) {
    bool any = false;
    for (const Row& r : rows) {
      if (r.section != "writers" || r.engine != e || r.*metric <= 0) continue;
      any = true;
      thread_set.insert(r.threads);
      lo = std::min(lo, r.*metric);
      hi = std::max(hi, r.*metric);
    }
    if (any) shown.push_back(e);
  }
  if (shown.empty()) return;
  const std::vector<int> threads(thread_set.begin(), thread_set.end());
  const LogAxis axis(lo, hi);
  std::ostringstream svg;
  Begin(svg, title);
  axis.Draw(svg, axis_label);
  const double group_w = static_cast<double>(kRight - kLeft) / static_cast<double>(shown.size());
  const double bar_w = (group_w - 10) / static_cast<double>(threads.size());
  for (std::size_t g = 0; g < shown.size(); ++g) {
    const double gx = kLeft + static_cast<double>(g) * group_w + 5;
    // Slanted so that long engine names fit under narrow groups.
    svg << "<text transform='translate(" << gx + 2 << "," << kBottom + 12
        << ") rotate(30)' font-size='9'>" << Escape(shown[g]) << "</text>\n";
    for (std::size_t t = 0; t < threads.size(); ++t) {
      const std::optional<Row> r = FindRow(rows, "writers", shown[g], threads[t]);
      const double v = r ? (*r).*metric : -1;
      if (v <= 0) continue;
      const double y = axis.Y(v);
      svg << "<rect x='" << gx + static_cast<double>(t) * bar_w << "' y='" << y << "' width='"
          << bar_w - 1 << "' height='" << kBottom - y << "' fill='"
          << kColors[t % std::size(kColors)] << "'><title>" << Escape(shown[g]) << ", "
          << threads[t] << " threads: " << v << "</title></rect>\n";
    }
  }
  std::vector<std::string> legend;
  for (int t : threads) legend.push_back(std::to_string(t) + (t == 1 ? " writer" : " writers"));
  Legend(svg, legend);
  Save(svg, path);
}

}  // namespace statestore::bench
