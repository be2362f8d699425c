-- Category presets: saved selections of leaf category ids, per org, plus shared built-ins.
--
-- Built-in presets have org_id NULL and are visible to every org, existing and future: one row
-- each, nothing to copy when an org is created, and a catalogue change is one UPDATE by key.
-- They cannot be renamed, changed or deleted (the service answers 409). An org's own preset
-- names are unique per org, case-insensitively; the service also refuses a built-in's name.

CREATE TABLE amazon_category_presets (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid REFERENCES orgs (id) ON DELETE CASCADE,
    builtin_key   text,
    name          text NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 100),
    category_ids  text[] NOT NULL CHECK (cardinality(category_ids) > 0),
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- A built-in has a key and no org; an org's preset has an org and no key.
    CONSTRAINT amazon_category_presets_builtin_check CHECK ((org_id IS NULL) = (builtin_key IS NOT NULL)),
    CONSTRAINT amazon_category_presets_builtin_key_key UNIQUE (builtin_key)
);
CREATE UNIQUE INDEX amazon_category_presets_org_name_key ON amazon_category_presets (org_id, lower(name))
    WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX amazon_category_presets_builtin_name_key ON amazon_category_presets (lower(name))
    WHERE org_id IS NULL;

-- Generated from app/data/amazon_categories.json (version 2026-01); a unit test checks they agree.
INSERT INTO amazon_category_presets (builtin_key, name, category_ids) VALUES
    ('all', 'All categories', ARRAY['appliances-cooktops', 'appliances-dishwashers', 'appliances-freezers', 'appliances-microwaves', 'appliances-ranges', 'arts-beading', 'arts-craft-supplies', 'arts-fabric', 'arts-knitting', 'arts-sewing', 'auto-car-care', 'auto-exterior-accessories', 'auto-interior-accessories', 'auto-replacement-parts', 'auto-tools-equipment', 'baby-activity-entertainment', 'baby-car-seats', 'baby-diapering', 'baby-feeding', 'baby-nursery', 'beauty-fragrance', 'beauty-hair-care', 'beauty-makeup', 'beauty-skin-care', 'beauty-tools-accessories', 'electronics-accessories', 'electronics-camera-photo', 'electronics-computers', 'electronics-headphones', 'electronics-tv-video', 'grocery-beverages', 'grocery-breakfast', 'grocery-candy-chocolate', 'grocery-snacks', 'grocery-pantry-staples', 'health-medical-supplies', 'health-personal-care', 'health-vitamins', 'health-wellness', 'health-household', 'home-bath', 'home-bedding', 'home-furniture', 'home-kitchen-dining', 'home-storage', 'industrial-additive-mfg', 'industrial-fasteners', 'industrial-lab-scientific', 'industrial-material-handling', 'industrial-safety', 'office-desk-accessories', 'office-electronics', 'office-furniture', 'office-school-supplies', 'office-writing', 'pet-birds', 'pet-cats', 'pet-dogs', 'pet-fish', 'pet-small-animals', 'sports-exercise-fitness', 'sports-outdoor-recreation', 'sports-sports-fitness', 'sports-fan-shop', 'sports-hunting-fishing', 'tools-building-supplies', 'tools-electrical', 'tools-hardware', 'tools-paint', 'tools-power-hand', 'toys-action-figures', 'toys-arts-crafts', 'toys-building-toys', 'toys-dolls-accessories', 'toys-games']),
    ('department:appliances', 'Appliances', ARRAY['appliances-cooktops', 'appliances-dishwashers', 'appliances-freezers', 'appliances-microwaves', 'appliances-ranges']),
    ('department:arts-crafts-sewing', 'Arts, Crafts & Sewing', ARRAY['arts-beading', 'arts-craft-supplies', 'arts-fabric', 'arts-knitting', 'arts-sewing']),
    ('department:automotive', 'Automotive', ARRAY['auto-car-care', 'auto-exterior-accessories', 'auto-interior-accessories', 'auto-replacement-parts', 'auto-tools-equipment']),
    ('department:baby', 'Baby', ARRAY['baby-activity-entertainment', 'baby-car-seats', 'baby-diapering', 'baby-feeding', 'baby-nursery']),
    ('department:beauty', 'Beauty & Personal Care', ARRAY['beauty-fragrance', 'beauty-hair-care', 'beauty-makeup', 'beauty-skin-care', 'beauty-tools-accessories']),
    ('department:electronics', 'Electronics', ARRAY['electronics-accessories', 'electronics-camera-photo', 'electronics-computers', 'electronics-headphones', 'electronics-tv-video']),
    ('department:grocery', 'Grocery & Gourmet Food', ARRAY['grocery-beverages', 'grocery-breakfast', 'grocery-candy-chocolate', 'grocery-snacks', 'grocery-pantry-staples']),
    ('department:health', 'Health & Personal Care', ARRAY['health-medical-supplies', 'health-personal-care', 'health-vitamins', 'health-wellness', 'health-household']),
    ('department:home-kitchen', 'Home & Kitchen', ARRAY['home-bath', 'home-bedding', 'home-furniture', 'home-kitchen-dining', 'home-storage']),
    ('department:industrial', 'Industrial & Scientific', ARRAY['industrial-additive-mfg', 'industrial-fasteners', 'industrial-lab-scientific', 'industrial-material-handling', 'industrial-safety']),
    ('department:office', 'Office Products', ARRAY['office-desk-accessories', 'office-electronics', 'office-furniture', 'office-school-supplies', 'office-writing']),
    ('department:pet-supplies', 'Pet Supplies', ARRAY['pet-birds', 'pet-cats', 'pet-dogs', 'pet-fish', 'pet-small-animals']),
    ('department:sports-outdoors', 'Sports & Outdoors', ARRAY['sports-exercise-fitness', 'sports-outdoor-recreation', 'sports-sports-fitness', 'sports-fan-shop', 'sports-hunting-fishing']),
    ('department:tools', 'Tools & Home Improvement', ARRAY['tools-building-supplies', 'tools-electrical', 'tools-hardware', 'tools-paint', 'tools-power-hand']),
    ('department:toys-games', 'Toys & Games', ARRAY['toys-action-figures', 'toys-arts-crafts', 'toys-building-toys', 'toys-dolls-accessories', 'toys-games']);
