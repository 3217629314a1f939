#include "homelens/feed/metadata.h"

#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

namespace homelens::feed {

namespace {

// "edmx:Edmx" -> "Edmx": vendors use their own prefixes and namespace URIs.
std::string_view local(const char* name) {
  std::string_view n(name);
  const auto colon = n.rfind(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

std::vector<pugi::xml_node> children(pugi::xml_node node, std::string_view name) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c : node.children())
    if (c.type() == pugi::node_element && local(c.name()) == name) out.push_back(c);
  return out;
}

pugi::xml_node child(pugi::xml_node node, std::string_view name) {
  for (pugi::xml_node c : node.children())
    if (c.type() == pugi::node_element && local(c.name()) == name) return c;
  return {};
}

FieldType field_type(std::string t) {
  FieldType f;
  const std::string prefix = "Collection(";
  if (t.rfind(prefix, 0) == 0 && !t.empty() && t.back() == ')') {
    f.collection = true;
    t = t.substr(prefix.size(), t.size() - prefix.size() - 1);
  }
  f.type = std::move(t);
  return f;
}

// The last dotted part: "org.reso.metadata.Media" -> "Media".
std::string short_name(const std::string& qualified) {
  const auto dot = qualified.rfind('.');
  return dot == std::string::npos ? qualified : qualified.substr(dot + 1);
}

// An annotation saying which RESO standard resource a vendor-named type stands for.
std::string standard_name(pugi::xml_node type) {
  for (pugi::xml_node a : children(type, "Annotation")) {
    const std::string term = a.attribute("Term").as_string();
    if (term.size() >= 12 && term.compare(term.size() - 12, 12, "StandardName") == 0)
      return a.attribute("String").as_string();
  }
  return "";
}

struct Types {
  std::map<std::string, pugi::xml_node> entity, complex;  // qualified (namespace and alias) names
  std::map<std::string, pugi::xml_node> sets;             // entity set name -> EntitySet element

  pugi::xml_node find_entity(const std::string& q) const {
    auto it = entity.find(q);
    return it == entity.end() ? pugi::xml_node() : it->second;
  }
};

// Walks a type and its BaseType chain (a cycle is cut).
void walk_type(const Types& t, pugi::xml_node type, const std::function<void(pugi::xml_node)>& fn) {
  std::set<const void*> seen;
  while (type && seen.insert(type.internal_object()).second) {
    fn(type);
    const std::string base = type.attribute("BaseType").as_string();
    if (base.empty()) break;
    if (auto e = t.entity.find(base); e != t.entity.end()) {
      type = e->second;
    } else {
      auto c = t.complex.find(base);
      type = c != t.complex.end() ? c->second : pugi::xml_node();
    }
  }
}

std::map<std::string, FieldType> fields_of(const Types& t, pugi::xml_node type) {
  std::map<std::string, FieldType> out;
  walk_type(t, type, [&](pugi::xml_node n) {
    for (pugi::xml_node p : children(n, "Property"))
      out.emplace(p.attribute("Name").as_string(), field_type(p.attribute("Type").as_string()));
  });
  return out;
}

Error bad(const std::string& where, const std::string& reason) {
  return make_error(where, reason, ErrorCode::kInvalidArgument);
}

// CSDL elements that hold only elements: text in them is a broken document (well-formed XML
// as it may be), not something to skip.
bool structural(std::string_view name) {
  static const std::set<std::string_view> names{
      "Edmx", "DataServices", "Reference", "Schema", "EntityType", "ComplexType", "EnumType", "EntityContainer",
      "EntitySet", "Singleton", "Property", "NavigationProperty", "NavigationPropertyBinding", "Key", "PropertyRef",
      "Member"};
  return names.count(name) > 0;
}

// The first non-blank text directly inside a structural element, with that element's name.
std::optional<std::pair<std::string, std::string>> stray_text(pugi::xml_node node) {
  for (pugi::xml_node c : node.children()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      const std::string v = c.value();
      if (v.find_first_not_of(" \t\r\n") != std::string::npos && structural(local(node.name())))
        return std::make_pair(v.substr(v.find_first_not_of(" \t\r\n"), 20), std::string(node.name()));
    } else if (c.type() == pugi::node_element) {
      if (auto s = stray_text(c)) return s;
    }
  }
  return std::nullopt;
}

}  // namespace

const char* media_access_name(MediaAccess access) {
  switch (access) {
    case MediaAccess::kNavigation: return "navigation";
    case MediaAccess::kComplexCollection: return "complex-collection";
    case MediaAccess::kSeparateResource: return "separate-resource";
    case MediaAccess::kNone: break;
  }
  return "none";
}

Result<FeedMetadata> parse_metadata(const std::string& xml, const std::string& where) {
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed)
    return bad(where, std::string("not well-formed XML: ") + parsed.description() + " at byte " +
                          std::to_string(parsed.offset));
  pugi::xml_node root = doc.document_element();
  if (local(root.name()) != "Edmx")
    return bad(where, "not an OData EDMX document (root element is <" + std::string(root.name()) + ">)");
  if (auto stray = stray_text(root))
    return bad(where, "not valid EDMX: stray text \"" + stray->first + "\" inside <" + stray->second + ">");
  pugi::xml_node services = child(root, "DataServices");
  if (!services) return bad(where, "the Edmx document has no DataServices element");

  Types t;
  for (pugi::xml_node schema : children(services, "Schema")) {
    std::vector<std::string> prefixes{schema.attribute("Namespace").as_string()};
    if (const char* alias = schema.attribute("Alias").as_string(); *alias) prefixes.push_back(alias);
    for (const std::string& ns : prefixes) {
      for (pugi::xml_node e : children(schema, "EntityType"))
        t.entity[ns + "." + e.attribute("Name").as_string()] = e;
      for (pugi::xml_node c : children(schema, "ComplexType"))
        t.complex[ns + "." + c.attribute("Name").as_string()] = c;
    }
    for (pugi::xml_node container : children(schema, "EntityContainer"))
      for (pugi::xml_node s : children(container, "EntitySet"))
        t.sets[s.attribute("Name").as_string()] = s;
  }
  if (t.sets.empty()) return bad(where, "no EntityContainer declares an EntitySet");

  // The Property resource: the set named so, else a set whose type is annotated as the
  // standard Property (MLS Grid's PropertyResi), else a set of a type named Property.
  pugi::xml_node set;
  if (auto it = t.sets.find("Property"); it != t.sets.end()) set = it->second;
  for (const auto& [name, s] : t.sets) {
    if (set) break;
    pugi::xml_node type = t.find_entity(s.attribute("EntityType").as_string());
    if (type && standard_name(type) == "Property") set = s;
  }
  for (const auto& [name, s] : t.sets) {
    if (set) break;
    if (short_name(s.attribute("EntityType").as_string()) == "Property") set = s;
  }
  if (!set) return bad(where, "no Property resource: no entity set is named or annotated Property");

  FeedMetadata m;
  m.property_set = set.attribute("Name").as_string();
  m.property_type = set.attribute("EntityType").as_string();
  pugi::xml_node type = t.find_entity(m.property_type);
  if (!type)
    return bad(where, "entity set " + m.property_set + " refers to entity type \"" + m.property_type +
                          "\", which no schema defines");
  std::vector<std::string> keys;
  walk_type(t, type, [&](pugi::xml_node n) {
    if (pugi::xml_node key = child(n, "Key"))
      for (pugi::xml_node ref : children(key, "PropertyRef")) keys.push_back(ref.attribute("Name").as_string());
  });
  if (keys.empty()) return bad(where, "entity type " + m.property_type + " has no Key");
  if (keys.size() > 1)
    return bad(where, "entity type " + m.property_type + " has a composite key; a listing needs one key field");
  m.key = keys.front();
  m.property_fields = fields_of(t, type);
  if (!m.has_property_field(m.key))
    return bad(where, "the key " + m.key + " of " + m.property_type + " is not one of its properties");

  // Media: a navigation property first (what $expand needs), then an inline complex
  // collection, then a Media entity set carrying ResourceRecordKey.
  std::vector<pugi::xml_node> navs;
  walk_type(t, type, [&](pugi::xml_node n) {
    for (pugi::xml_node nav : children(n, "NavigationProperty")) navs.push_back(nav);
  });
  for (pugi::xml_node nav : navs) {
    const std::string name = nav.attribute("Name").as_string();
    const FieldType target = field_type(nav.attribute("Type").as_string());
    if (name != "Media" && short_name(target.type) != "Media") continue;
    pugi::xml_node media_type = t.find_entity(target.type);
    if (!media_type)
      return bad(where, "navigation property " + m.property_type + "." + name + " refers to \"" +
                            target.type + "\", which no schema defines");
    for (pugi::xml_node b : children(set, "NavigationPropertyBinding")) {
      if (std::string(b.attribute("Path").as_string()) != name) continue;
      const std::string target_set = b.attribute("Target").as_string();
      if (!t.sets.count(target_set) && !t.sets.count(short_name(target_set)))
        return bad(where, "navigation binding " + m.property_set + "/" + name + " targets entity set \"" +
                              target_set + "\", which the container does not declare");
    }
    m.media = MediaAccess::kNavigation;
    m.media_path = name;
    m.media_fields = fields_of(t, media_type);
    return m;
  }
  for (const auto& [name, f] : m.property_fields) {
    if (!f.collection) continue;
    auto c = t.complex.find(f.type);
    if (c == t.complex.end()) continue;
    auto cf = fields_of(t, c->second);
    if (name != "Media" && !cf.count("MediaURL")) continue;
    m.media = MediaAccess::kComplexCollection;
    m.media_path = name;
    m.media_fields = std::move(cf);
    return m;
  }
  for (const auto& [name, s] : t.sets) {
    pugi::xml_node mt = t.find_entity(s.attribute("EntityType").as_string());
    if (!mt || (name != "Media" && standard_name(mt) != "Media")) continue;
    auto mf = fields_of(t, mt);
    if (!mf.count("ResourceRecordKey") || !mf.count("MediaURL")) continue;
    m.media = MediaAccess::kSeparateResource;
    m.media_set = name;
    m.media_fields = std::move(mf);
    return m;
  }
  return m;
}

Result<FeedMetadata> read_metadata_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path, "cannot open", ErrorCode::kIO);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_metadata(ss.str(), path);
}

}  // namespace homelens::feed
