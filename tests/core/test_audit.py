"""The audit chain: every state change is recorded, and tampering is named by ``audit verify``."""
import sqlalchemy as sa

from core import audit
from core.audit import AuditEvent, verify_chain
from core.db import db


def _events(n=5):
    for i in range(n):
        audit.record("test.event", object_type="thing", object_id=i, value=i)
    db.session.commit()


def _as_dba(statement: str, *params):
    """What a database administrator could do: bypass the append-only triggers and edit rows."""
    db.session.rollback()
    engine = db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
            conn.exec_driver_sql(statement, *params)
            conn.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
            conn.exec_driver_sql(statement, *params)
            for sql in audit.APPEND_ONLY_SQL["sqlite"]:
                conn.exec_driver_sql(sql)
    db.session.expire_all()


def test_records_chain_to_their_predecessor(app):
    _events(3)
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == audit.GENESIS and rows[1].prev_hash == rows[0].hash
    assert verify_chain().ok


def test_the_log_refuses_updates_and_deletes(app):
    _events(2)
    db.session.rollback()
    for statement in ("UPDATE audit_events SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_events WHERE seq = 2"):
        try:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(statement)
        except sa.exc.DBAPIError as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"{statement} was allowed")


def test_verify_names_an_edited_record(app, runner):
    _events(5)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    _as_dba("UPDATE audit_events SET data = '{\"value\":99}' WHERE seq = 3")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "record 3 was changed" in result.output


def test_verify_names_a_removed_record(app, runner):
    _events(5)
    _as_dba("DELETE FROM audit_events WHERE seq = 2")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "record 2 is missing" in result.output


def test_verify_names_reordered_records(app):
    _events(4)
    _as_dba("UPDATE audit_events SET seq = 100 WHERE seq = 2")
    _as_dba("UPDATE audit_events SET seq = 2 WHERE seq = 3")
    _as_dba("UPDATE audit_events SET seq = 3 WHERE seq = 100")
    report = verify_chain()
    assert not report.ok and report.seq == 2 and "previous-hash link is broken" in report.problem


def test_verify_notices_records_cut_from_the_end(app):
    _events(4)
    _as_dba("DELETE FROM audit_events WHERE seq = 4")
    report = verify_chain()
    assert not report.ok and "removed" in report.problem


def test_supervisors_browse_and_filter_the_log(client, factory):
    from core.accounts import Role

    _events(3)
    audit.record("other.event", object_type="thing", object_id=99)
    db.session.commit()
    supervisor = factory.user(Role.SUPERVISOR)
    factory.login(client, supervisor)
    rows = client.get("/admin/audit?action=other.").get_data(as_text=True).split("<tbody>")[1]
    assert "<code>other.event</code>" in rows and "<code>test.event</code>" not in rows
    rows = client.get("/admin/audit?object_type=thing&object_id=1").get_data(as_text=True).split("<tbody>")[1]
    assert rows.count("<code>test.event</code>") == 1 and "<code>other.event</code>" not in rows
    bidder_client = client.application.test_client()
    factory.login(bidder_client, factory.user(Role.BIDDER))
    assert bidder_client.get("/admin/audit").status_code == 403
