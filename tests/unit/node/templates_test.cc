#include "node/templates.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace kith::node {
namespace {

using nlohmann::json;

// Templates with the given override files ({name, text}) on top of the built-ins.
class TemplatesTest : public ::testing::Test {
 protected:
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / (name + ".html"), std::ios::binary) << text;
  }

  std::unique_ptr<Templates> Load() {
    auto t = Templates::Load(dir_.path());
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t.ok() ? std::move(t.value()) : nullptr;
  }

  // Renders `text` (as template "t") with `data`.
  std::string RenderText(const std::string& text, const json& data) {
    Write("t", text);
    auto t = Load();
    if (!t) return "<load failed>";
    auto out = t->Render("t", data);
    EXPECT_TRUE(out.ok()) << out.error().message;
    return out.ok() ? out.value() : "<render failed>";
  }

  // The load error for a template "t" with `text`.
  std::string LoadError(const std::string& text) {
    Write("t", text);
    auto t = Templates::Load(dir_.path());
    EXPECT_FALSE(t.ok());
    if (t.ok()) return "";
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
    return t.error().message;
  }

  testing::TempDir dir_{"templates"};
};

TEST_F(TemplatesTest, EscapesEveryDangerousCharacter) {
  EXPECT_EQ(RenderText("{{v}}", {{"v", "& < > \" ' = `"}}),
            "&amp; &lt; &gt; &quot; &#39; &#61; &#96;");
}

TEST_F(TemplatesTest, XssPayloadsAreInert) {
  const std::string payloads[] = {
      "<script>alert(1)</script>",
      "\"><img src=x onerror=alert(1)>",
      "' onmouseover='alert(1)",
      "` onclick=`alert(1)",
      "javascript:alert(1)//\"<svg/onload=alert(1)>",
  };
  for (const auto& p : payloads) {
    const std::string out =
        RenderText("<a title=\"{{v}}\" data-x='{{v}}' class={{v}}>{{v}}</a>", {{"v", p}});
    // Only the template's own quotes and brackets remain.
    EXPECT_EQ(std::count(out.begin(), out.end(), '<'), 2) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '>'), 2) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '"'), 2) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\''), 2) << out;
    EXPECT_EQ(out.find('`'), std::string::npos) << out;
    EXPECT_EQ(out.find("=alert"), std::string::npos) << out;
  }
}

TEST_F(TemplatesTest, KeysEndingInHtmlArePrintedRaw) {
  EXPECT_EQ(RenderText("{{body_html}}|{{body}}", {{"body_html", "<p>x</p>"}, {"body", "<p>"}}),
            "<p>x</p>|&lt;p&gt;");
  EXPECT_EQ(RenderText("{{post.text_html}}", {{"post", {{"text_html", "<b>b</b>"}}}}), "<b>b</b>");
}

TEST_F(TemplatesTest, UnescapedSyntaxIsRefused) {
  EXPECT_NE(LoadError("a\n{{{v}}}").find(":2: unescaped output"), std::string::npos);
  EXPECT_NE(LoadError("{{& v}}").find(":1: unescaped output"), std::string::npos);
}

TEST_F(TemplatesTest, ScalarsAndMissingValues) {
  EXPECT_EQ(
      RenderText(
          "[{{n}}][{{f}}][{{t}}][{{b}}][{{z}}][{{missing}}][{{a.b.c}}][{{o}}]",
          {{"n", 42}, {"f", 1.5}, {"t", true}, {"b", false}, {"z", nullptr}, {"o", {{"k", 1}}}}),
      "[42][1.5][true][false][][][][]");
}

TEST_F(TemplatesTest, DottedNames) {
  json data = {{"a", {{"b", {{"c", "deep"}}}}}, {"x", "outer"}};
  EXPECT_EQ(RenderText("{{a.b.c}} {{a.b.missing}} {{a.missing.c}}", data), "deep  ");
  // The first part is looked up outwards; the rest only inside what it found.
  EXPECT_EQ(RenderText("{{#a}}{{x}}|{{b.c}}|{{a.b.c}}{{/a}}", data), "outer|deep|deep");
}

TEST_F(TemplatesTest, SectionsOverArrays) {
  json data = {{"items", {{{"name", "a"}}, {{"name", "<b>"}}}}, {"sep", ","}};
  EXPECT_EQ(RenderText("{{#items}}{{name}}{{sep}}{{/items}}", data), "a,&lt;b&gt;,");
  EXPECT_EQ(RenderText("{{#list}}[{{.}}]{{/list}}", {{"list", {1, "x", true}}}), "[1][x][true]");
  EXPECT_EQ(RenderText("{{#items}}x{{/items}}{{^items}}none{{/items}}", {{"items", json::array()}}),
            "none");
}

TEST_F(TemplatesTest, SectionsOverObjectsBoolsAndStrings) {
  json data = {{"user", {{"name", "Ann"}}},
               {"yes", true},
               {"no", false},
               {"s", "str"},
               {"empty", ""},
               {"zero", 0},
               {"name", "outer"}};
  EXPECT_EQ(RenderText("{{#user}}{{name}}{{/user}}", data), "Ann");
  EXPECT_EQ(RenderText("{{#yes}}Y{{name}}{{/yes}}{{#no}}N{{/no}}", data), "Youter");
  EXPECT_EQ(RenderText("{{#s}}<{{.}}>{{/s}}{{#empty}}E{{/empty}}{{#zero}}Z{{/zero}}", data),
            "<str>");
  EXPECT_EQ(RenderText("{{#missing}}M{{/missing}}", data), "");
}

TEST_F(TemplatesTest, InvertedSections) {
  json data = {{"t", true},           {"f", false}, {"n", nullptr}, {"e", json::array()},
               {"o", json::object()}, {"s", ""},    {"full", {1}}};
  EXPECT_EQ(RenderText("{{^t}}1{{/t}}{{^f}}2{{/f}}{{^n}}3{{/n}}{{^e}}4{{/e}}{{^o}}5{{/o}}"
                       "{{^s}}6{{/s}}{{^missing}}7{{/missing}}{{^full}}8{{/full}}",
                       data),
            "234567");
}

TEST_F(TemplatesTest, NestedSectionsSeeOuterValues) {
  json data = {{"groups", {{{"name", "g1"}, {"members", {{{"h", "a"}}, {{"h", "b"}}}}}}},
               {"node", "n"}};
  EXPECT_EQ(RenderText("{{#groups}}{{name}}:{{#members}}{{h}}@{{node}}/{{name}} {{/members}}"
                       "{{/groups}}",
                       data),
            "g1:a@n/g1 b@n/g1 ");
}

TEST_F(TemplatesTest, CommentsPrintNothing) {
  EXPECT_EQ(RenderText("a{{! a comment\n over lines }}b", {}), "ab");
}

TEST_F(TemplatesTest, IncludesUseTheCurrentData) {
  Write("item", "<{{name}}>");
  EXPECT_EQ(RenderText("{{#items}}{{> item}}{{/items}}", {{"items", {{{"name", "x"}}}}}), "<x>");
}

TEST_F(TemplatesTest, IncludeLoopsStopWithAnError) {
  Write("t", "{{> u}}");
  Write("u", "{{> t}}");
  auto t = Load();
  ASSERT_TRUE(t);
  auto out = t->Render("t", json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("include loop"), std::string::npos);
}

TEST_F(TemplatesTest, SyntaxErrorsNameFileAndLine) {
  std::string e = LoadError("line 1\n{{#open}}\nnever closed\n");
  EXPECT_NE(e.find("t.html:2: section \"open\" is never closed"), std::string::npos) << e;
  e = LoadError("{{#a}}\n\n{{/b}}");
  EXPECT_NE(e.find("t.html:3: closing tag \"{{/b}}\" does not match \"{{#a}}\" opened on line 1"),
            std::string::npos)
      << e;
  e = LoadError("x\ny\n{{/a}}");
  EXPECT_NE(e.find("t.html:3: closing tag"), std::string::npos) << e;
  e = LoadError("\n\n\n{{oops");
  EXPECT_NE(e.find("t.html:4: unclosed tag"), std::string::npos) << e;
  e = LoadError("{{> nowhere}}");
  EXPECT_NE(e.find("t.html:1: include of unknown template \"nowhere\""), std::string::npos) << e;
  e = LoadError("{{bad name}}");
  EXPECT_NE(e.find("t.html:1: bad name"), std::string::npos) << e;
  e = LoadError("{{a..b}}");
  EXPECT_NE(e.find("bad name"), std::string::npos) << e;
  e = LoadError("{{}}");
  EXPECT_NE(e.find("empty tag"), std::string::npos) << e;
  e = LoadError("{{=<% %>=}}");
  EXPECT_NE(e.find("delimiters"), std::string::npos) << e;
}

TEST_F(TemplatesTest, UnknownTemplateIsNotFound) {
  auto t = Load();
  ASSERT_TRUE(t);
  auto out = t->Render("no-such-page", json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(t->RenderPage("no-such-page", json::object()).error().code, ErrorCode::kNotFound);
}

TEST_F(TemplatesTest, MissingOverrideDirIsAnError) {
  auto t = Templates::Load(dir_ / "does-not-exist");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("web.templates_dir"), std::string::npos);
}

TEST_F(TemplatesTest, OverridesReplaceBuiltIns) {
  Write("signed-out", "custom {{node.name}}");
  auto t = Load();
  ASSERT_TRUE(t);
  auto out = t->Render("signed-out", {{"node", {{"name", "N"}}}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "custom N");
}

TEST_F(TemplatesTest, RenderPageWrapsInTheLayout) {
  Write("layout", "<main>{{content_html}}</main><title>{{page_title}}</title>");
  Write("t", "<p>{{x}}</p>");
  auto t = Load();
  ASSERT_TRUE(t);
  auto out = t->RenderPage("t", {{"x", "<i>"}, {"page_title", "T&C"}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "<main><p>&lt;i&gt;</p></main><title>T&amp;C</title>");
}

// The built-in pages: GOV.UK Frontend structure, no inline scripts or styles (the CSP forbids
// them), a label for every visible input, and escaped data.
TEST_F(TemplatesTest, BuiltInPagesRender) {
  auto loaded = Templates::Load("");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const auto& t = *loaded.value();
  const json base = {{"node", {{"name", "Council <A>"}, {"organisation", "Org"}}},
                     {"page_title", "Title"},
                     {"csrf_token", "tok"}};
  auto page = [&](std::string_view name, json extra) {
    json data = base;
    data.update(extra);
    auto out = t.RenderPage(name, data);
    EXPECT_TRUE(out.ok()) << name << ": " << out.error().message;
    return out.ok() ? out.value() : std::string();
  };
  const std::string pages[] = {
      page("sign-in", {{"username", "\"><script>"}, {"next", "/account"}}),
      page("signed-out", json::object()),
      page("error", {{"title", "Not found"}, {"message", "gone"}}),
      page("consent", {{"client_name", "RP"},
                       {"authz", "a=1&b=2"},
                       {"scopes", {{{"name", "email"}, {"description", "your email"}}}}}),
      page("account", {{"member", {{"handle", "ann"}}},
                       {"profile", {{"display_name", "Ann"}, {"bio", "</textarea><script>"}}},
                       {"sessions", {{{"created", "today"}, {"current", true}}}}}),
  };
  for (const std::string& html : pages) {
    EXPECT_NE(html.find("<html lang=\"en\" class=\"govuk-template\">"), std::string::npos);
    EXPECT_NE(html.find("Skip to main content"), std::string::npos);
    EXPECT_NE(html.find("id=\"main-content\""), std::string::npos);
    EXPECT_NE(html.find("href=\"/assets/govuk-frontend.min.css\""), std::string::npos);
    EXPECT_NE(html.find("Council &lt;A&gt;"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<style"), std::string::npos);
    EXPECT_EQ(html.find("style="), std::string::npos);
    EXPECT_EQ(html.find("{{"), std::string::npos);
    // Every visible input and textarea has a label pointing at its id.
    for (size_t pos = html.find("<input"); pos != std::string::npos;
         pos = html.find("<input", pos + 1)) {
      const std::string tag = html.substr(pos, html.find('>', pos) - pos);
      if (tag.find("type=\"hidden\"") != std::string::npos) continue;
      const size_t id = tag.find(" id=\"");
      ASSERT_NE(id, std::string::npos) << tag;
      const std::string name = tag.substr(id + 5, tag.find('"', id + 5) - id - 5);
      EXPECT_NE(html.find("<label class=\"govuk-label\" for=\"" + name + "\""), std::string::npos)
          << name;
    }
  }
  EXPECT_NE(pages[0].find("value=\"&quot;&gt;&lt;script&gt;\""), std::string::npos);
  EXPECT_NE(pages[0].find("autocomplete=\"current-password\""), std::string::npos);
  EXPECT_NE(pages[3].find("value=\"a&#61;1&amp;b&#61;2\""), std::string::npos);
  EXPECT_NE(pages[3].find("name=\"decision\" value=\"allow\""), std::string::npos);
  EXPECT_NE(pages[3].find("name=\"decision\" value=\"deny\""), std::string::npos);
  EXPECT_NE(pages[4].find("&lt;/textarea&gt;&lt;script&gt;"), std::string::npos);
  EXPECT_NE(pages[4].find("action=\"/sign-out\""), std::string::npos);  // signed in: header form
  EXPECT_EQ(pages[0].find("action=\"/sign-out\""), std::string::npos);
}

TEST_F(TemplatesTest, ErrorSummaryLinksToFields) {
  auto loaded = Templates::Load("");
  ASSERT_TRUE(loaded.ok());
  json data = {
      {"error_summary", {{"errors", {{{"text", "Enter your password"}, {"href", "#password"}}}}}},
      {"field_errors", {{"password", "Enter your password"}}}};
  auto out = loaded.value()->RenderPage("sign-in", data);
  ASSERT_TRUE(out.ok());
  const std::string& html = out.value();
  EXPECT_NE(html.find("govuk-error-summary"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"#password\">Enter your password</a>"), std::string::npos);
  EXPECT_NE(html.find("govuk-form-group--error"), std::string::npos);
  EXPECT_NE(html.find("id=\"password-error\""), std::string::npos);
  EXPECT_NE(html.find("aria-describedby=\"password-error\""), std::string::npos);
  // No error, no summary.
  auto clean = loaded.value()->RenderPage("sign-in", json::object());
  ASSERT_TRUE(clean.ok());
  EXPECT_EQ(clean.value().find("govuk-error-summary"), std::string::npos);
}

}  // namespace
}  // namespace kith::node
