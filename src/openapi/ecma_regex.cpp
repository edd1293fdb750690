#include "openapi/ecma_regex.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

namespace gatehouse::openapi {
namespace {

// Unicode general categories, long name to short (UAX #44, PropertyValueAliases.txt).
constexpr std::array<std::pair<std::string_view, std::string_view>, 38> k_categories = {{
    {"Letter", "L"}, {"Cased_Letter", "L"}, {"Uppercase_Letter", "Lu"}, {"Lowercase_Letter", "Ll"},
    {"Titlecase_Letter", "Lt"}, {"Modifier_Letter", "Lm"}, {"Other_Letter", "Lo"}, {"Mark", "M"},
    {"Nonspacing_Mark", "Mn"}, {"Spacing_Mark", "Mc"}, {"Enclosing_Mark", "Me"}, {"Number", "N"},
    {"Decimal_Number", "Nd"}, {"digit", "Nd"}, {"Letter_Number", "Nl"}, {"Other_Number", "No"},
    {"Punctuation", "P"}, {"punct", "P"}, {"Connector_Punctuation", "Pc"}, {"Dash_Punctuation", "Pd"},
    {"Open_Punctuation", "Ps"}, {"Close_Punctuation", "Pe"}, {"Initial_Punctuation", "Pi"},
    {"Final_Punctuation", "Pf"}, {"Other_Punctuation", "Po"}, {"Symbol", "S"}, {"Math_Symbol", "Sm"},
    {"Currency_Symbol", "Sc"}, {"Modifier_Symbol", "Sk"}, {"Other_Symbol", "So"}, {"Separator", "Z"},
    {"Space_Separator", "Zs"}, {"Line_Separator", "Zl"}, {"Paragraph_Separator", "Zp"}, {"Other", "C"},
    {"Control", "Cc"}, {"Format", "Cf"}, {"Private_Use", "Co"},
}};

std::string_view short_name(std::string_view name) {
    for (auto prefix : {"General_Category=", "gc=", "Script=", "sc=", "Script_Extensions=", "scx="}) {
        std::string_view p(prefix);
        if (name.starts_with(p)) {
            name.remove_prefix(p.size());
            break;
        }
    }
    for (auto& [long_name, short_name] : k_categories)
        if (name == long_name) return short_name;
    return name;  // a short category name or a script name, which RE2 spells the same
}

// ECMA-262's WhiteSpace and LineTerminator (what \s matches), wider than RE2's ASCII \s.
constexpr std::string_view k_space =
    "\\t\\n\\v\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";

}  // namespace

std::string ecma_to_re2(std::string_view pattern) {
    std::string out;
    out.reserve(pattern.size());
    bool in_class = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c != '\\' || i + 1 >= pattern.size()) {
            if (c == '[') in_class = true;
            if (c == ']') in_class = false;
            out += c;
            continue;
        }
        char e = pattern[i + 1];
        if (e == 's' || (e == 'S' && !in_class)) {
            if (in_class) {
                out += k_space;
            } else {
                ((out += e == 's' ? "[" : "[^") += k_space) += ']';
            }
            ++i;
            continue;
        }
        if (e == 'c' && i + 2 < pattern.size() && std::isalpha(static_cast<unsigned char>(pattern[i + 2]))) {
            char code[8];
            std::snprintf(code, sizeof code, "\\x%02X", pattern[i + 2] % 32);
            out += code;
            i += 2;
            continue;
        }
        auto close = pattern.find('}', i + 2);
        if ((e == 'p' || e == 'P') && i + 2 < pattern.size() && pattern[i + 2] == '{' && close != std::string_view::npos) {
            ((out += '\\') += e) += '{';
            out += short_name(pattern.substr(i + 3, close - i - 3));
            out += '}';
            i = close;
            continue;
        }
        (out += c) += e;
        ++i;
    }
    return out;
}

}  // namespace gatehouse::openapi
