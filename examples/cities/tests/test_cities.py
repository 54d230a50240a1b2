"""The cities service (roles is the same lookup service over another table)."""

from __future__ import annotations


async def test_create_fetch_list_and_duplicates(services):
    _, cities, roles = services
    status, body = await cities.post("/cities", json={"name": "Porto"})
    assert status == 200
    city = body["data"]
    assert await cities.get(f"/cities/{city['id']}") == (200, {"code": 0, "data": city})
    status, page = await cities.get("/cities?size=100")
    assert city in page["data"] and page["pagination"]["total"] >= 1
    status, body = await cities.post("/cities", json={"name": "Porto"})
    assert status == 409 and body["error"]["constraint"] == "cities_name"
    status, body = await roles.post("/roles", json={})
    assert status == 400 and body["error"] == {"name": "required"}
    assert (await roles.get("/roles/424242"))[0] == 404
