import pytest

from debris.config import DEFAULT_CONFIG, ConfigError, load_config, parse_overrides


def test_defaults_load_from_the_yaml_file():
    config = load_config()
    assert config.classes == ["parachute", "backshell", "heat_shield", "descent_stage", "debris"]
    assert config.reader.max_pixels == 200_000_000
    assert config.reader.recursive is False


def test_user_file_is_merged_over_defaults(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("reader:\n  recursive: true\n")
    config = load_config(path)
    assert config.reader.recursive is True
    assert config.reader.max_pixels == 200_000_000  # untouched keys keep their default


def test_dotted_overrides_are_parsed_as_yaml():
    config = load_config(overrides=["reader.max_pixels=1000", "reader.recursive=true", "classes=[rock, debris]"])
    assert config.reader.max_pixels == 1000
    assert config.reader.recursive is True
    assert config.classes == ["rock", "debris"]


def test_override_wins_over_user_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("reader:\n  max_pixels: 10\n")
    assert load_config(path, ["reader.max_pixels=20"]).reader.max_pixels == 20


@pytest.mark.parametrize(
    "override, expected",
    [
        ("reader.maxpixels=5", ["unknown key 'reader.maxpixels'", "max_pixels, recursive"]),
        ("colour=red", ["unknown key 'colour'", "classes, label, model, preprocess, reader, synth, train"]),
        ("reader.max_pixels=-5", ["'reader.max_pixels'", "-5", "greater than 0"]),
        ("reader.max_pixels='lots'", ["'reader.max_pixels'", "'lots'", "valid integer"]),
        ("reader.recursive=maybe", ["'reader.recursive'", "'maybe'", "valid boolean"]),
        ("classes=[a, a]", ["'classes'", "unique"]),
        ("classes=[]", ["'classes'", "at least 1"]),
    ],
)
def test_bad_key_or_value_names_the_key_the_value_and_what_is_allowed(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    for text in expected:
        assert text in str(info.value)


def test_unknown_key_in_a_file_is_an_error_naming_file_and_key(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("reader:\n  max_pixels: 10\n  recurse: true\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml.*unknown key 'reader\.recurse'"):
        load_config(path)


def test_file_that_is_not_a_mapping_or_not_yaml(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "broken.yaml").write_text("reader: [unclosed\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("reader: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_override_into_a_scalar_is_an_error():
    with pytest.raises(ConfigError, match="reader.max_pixels is not a section"):
        load_config(overrides=["reader.max_pixels.x=1"])


def test_parse_overrides_rejects_items_without_equals():
    assert parse_overrides(["a.b=1"]) == ["a.b=1"]
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["a.b"])


def test_default_file_is_in_configs_folder():
    assert DEFAULT_CONFIG.parent.name == "configs" and DEFAULT_CONFIG.is_file()


def test_a_config_saved_by_an_older_debris_is_completed_with_todays_defaults():
    from debris.config import config_from_record

    record = load_config(overrides=["train.epochs=7", "synth.splits={train: 0.75, val: 0.25}"]).model_dump(mode="json")
    del record["train"]["freeze"], record["synth"]["randomize"]  # keys a run saved before they existed lacks
    config = config_from_record(record, "last.pt")
    assert config.train.epochs == 7 and config.train.freeze == load_config().train.freeze
    assert config.synth.randomize == load_config().synth.randomize
    assert config.synth.splits == {"train": 0.75, "val": 0.25}  # a saved mapping is restored whole, not merged
