"""Numbers from outside (Range headers, API paging, the panel's forms) of any length or script
get a clear answer, never a 500: a 4xx with a reason, or, for a Range, what RFC 9110 says."""

from pathlib import Path

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from adminpanel.forms import TrackerLimitsForm
from adminpanel.redundancy_forms import MAX_BUDGET, SIZE_PATTERN, RedundancyStrategyForm
from instance.file_serving import UnsatisfiableRange, parse_range
from instance.models import InstanceSettings
from instance.redundancy.models import RedundancyStrategy, RedundancyStrategyName
from instance.views import API_MAX_COUNT, API_MAX_START
from tests.file_route_helpers import body, make_roots


@pytest.fixture
def roots(settings, tmp_path) -> dict[str, Path]:
    return make_roots(settings, tmp_path)


NINES = "9" * 5000
# Deterministic and small: the same examples at every run, a few seconds per property.
examples = hypothesis_settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
digits = st.text(alphabet="0123456789", min_size=1, max_size=40) | st.sampled_from(
    [NINES, "0" * 5000 + "7", "1" + "0" * 4400]
)
# Text that reaches the server: any characters but lone surrogates, which no client can encode.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
numberish = any_text | digits | st.sampled_from(["²", "١٢", "-1", "1e3", "0x10", " 7 ", "7\n"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("range_header", "status", "content"),
    [
        # Read as the numbers they are: a first byte beyond the file is unsatisfiable (416)...
        (f"bytes={NINES}-", 416, b""),
        (f"bytes={NINES}-{NINES}", 416, b""),
        # ...a last byte beyond it is the file's end, and a suffix longer than it is all of it.
        (f"bytes=0-{NINES}", 206, b"video bytes"),
        (f"bytes=-{NINES}", 206, b"video bytes"),
        (f"bytes={'0' * 5000}3-4", 206, b"eo"),
        # Not a byte range (last before first, other digits than ASCII): ignored, as RFC 9110
        # allows: the whole file.
        (f"bytes=5-{'0' * 5000}4", 200, b"video bytes"),
        ("bytes=²-", 200, b"video bytes"),
        ("bytes=١-٢", 200, b"video bytes"),
    ],
)
def test_absurd_byte_ranges_get_416_or_are_read_as_the_numbers_they_are(
    client, roots, range_header, status, content
):
    response = client.get("/static/web-videos/good.mp4", headers={"Range": range_header})
    assert response.status_code == status
    assert body(response) == content
    if status == 416:
        assert response["Content-Range"] == "bytes */11"


range_headers = (
    any_text
    | st.from_regex(r"\s*bytes=[0-9]{0,25}-[0-9]{0,25}\s*", fullmatch=True)
    | st.builds("bytes={}-{}".format, digits | st.just(""), digits | st.just(""))
)


@examples
@given(header=range_headers, size=st.integers(0, 10**13))
def test_parse_range_gives_a_range_in_the_file_none_or_unsatisfiable(header, size):
    try:
        result = parse_range(header, size)
    except UnsatisfiableRange:
        return
    if result is not None:
        first, last = result
        assert type(first) is int and type(last) is int
        assert 0 <= first <= last < size


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "start=²",
        "count=²",
        f"start={NINES}",
        f"count={NINES}",
        "start=-1",
        "count=101",
        f"start={API_MAX_START + 1}",
        "start=%FF",
        "start=1e3",
        "count=%00",
    ],
)
def test_bad_paging_gets_a_400_problem_that_names_the_bounds(client, query):
    response = client.get(f"/api/v1/videos?{query}")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert str(API_MAX_COUNT) in detail and str(API_MAX_START) in detail


@pytest.mark.django_db
def test_leading_zeros_still_page(client):
    assert client.get(f"/api/v1/videos?start={'0' * 5000}&count=007").status_code == 200


@pytest.mark.django_db
@examples
@given(start=numberish, count=numberish)
def test_any_paging_text_gets_200_or_a_400_problem(start, count):
    response = Client().get("/api/v1/videos", {"start": start, "count": count})
    assert response.status_code in (200, 400)
    payload = response.json()
    assert ("data" in payload) if response.status_code == 200 else payload["detail"]


def model_bounds(model, name: str) -> tuple[int, int]:
    """The tightest bounds among the model field's validators (its own and the database's)."""
    validators = model._meta.get_field(name).validators
    low = max(v.limit_value for v in validators if v.code == "min_value")
    high = min(v.limit_value for v in validators if v.code == "max_value")
    return low, high


def strategy_data(strategy: str, **values: str) -> dict[str, str]:
    """What the panel's form for a strategy posts: its shown values, with some changed."""
    form = RedundancyStrategyForm(instance=RedundancyStrategy.objects.get(name=strategy))
    shown = {name: form[name].value() for name in form.fields if name != "enabled"}
    shown["size_budget"] = form.fields["size_budget"].prepare_value(shown["size_budget"])
    return {f"{strategy}-{name}": str(value) for name, value in {**shown, **values}.items()}


@pytest.mark.django_db
def test_a_budget_of_400_nines_is_refused_with_a_clear_message(admin_client):
    response = admin_client.post(
        "/admin-panel/redundancy/most-views",
        strategy_data("most-views", size_budget="9" * 400),
    )
    assert response.status_code == 400
    assert "At most 1024TB." in response.content.decode()
    strategy = RedundancyStrategy.objects.get(name="most-views")
    assert strategy.size_budget == RedundancyStrategy._meta.get_field("size_budget").default


@pytest.mark.django_db
@pytest.mark.parametrize("value", [NINES, "9" * 400 + ".5GB", "1" * 400 + "TB", "²", "1e400"])
def test_every_numeric_panel_field_refuses_absurd_numbers_with_a_400(admin_client, value):
    for name in TrackerLimitsForm.Meta.fields:
        response = admin_client.post("/admin-panel/limits", {name: value})
        assert response.status_code == 400, name
    for strategy in RedundancyStrategyName.values:
        assert (
            admin_client.post(
                f"/admin-panel/redundancy/{strategy}", strategy_data(strategy)
            ).status_code
            == 302
        )  # the form as shown is valid
        for name in strategy_data(strategy):
            name = name.removeprefix(f"{strategy}-")
            response = admin_client.post(
                f"/admin-panel/redundancy/{strategy}", strategy_data(strategy, **{name: value})
            )
            assert response.status_code == 400, (strategy, name)


@pytest.mark.django_db
@examples
@given(field=st.sampled_from(TrackerLimitsForm.Meta.fields), text=numberish)
def test_any_text_in_a_limits_field_is_an_error_or_a_value_within_bounds(field, text):
    form = TrackerLimitsForm({field: text}, instance=InstanceSettings.load())
    if form.is_valid():
        low, high = model_bounds(InstanceSettings, field)
        assert low <= form.cleaned_data[field] <= high
    else:
        assert form.errors


sizes = numberish | st.from_regex(SIZE_PATTERN, fullmatch=True)


@pytest.mark.django_db
@examples
@given(
    strategy=st.sampled_from(RedundancyStrategyName.values),
    field=st.sampled_from(RedundancyStrategyForm.Meta.fields[1:]),
    text=sizes,
)
def test_any_text_in_a_strategy_field_is_an_error_or_a_value_within_bounds(strategy, field, text):
    data = strategy_data(strategy)
    if f"{strategy}-{field}" not in data:  # each strategy shows only its own parameter
        return
    data[f"{strategy}-{field}"] = text
    instance = RedundancyStrategy.objects.get(name=strategy)
    form = RedundancyStrategyForm(data, instance=instance)
    if form.is_valid():
        value = form.cleaned_data[field]
        low, high = model_bounds(RedundancyStrategy, field)
        assert low <= value <= (min(high, MAX_BUDGET) if field == "size_budget" else high)
        form.save()
    else:
        assert form.errors


@pytest.mark.django_db
@pytest.mark.parametrize("page", [NINES, "²", "-1", "1e3"])
def test_the_panels_page_numbers_fall_back_to_a_page_that_exists(admin_client, page):
    for path in ("/admin-panel/videos/", "/admin-panel/alarms/"):
        assert admin_client.get(path, {"page": page}).status_code == 200, path
