from pathlib import Path

from tests.support.browser import Browser
from tests.support.servers import IdP, gateway_env, nginx_server, start_echo, start_gateway


def test_sign_in_through_nginx(tmp_path: Path, idp: IdP) -> None:
    gw = start_gateway(tmp_path, gateway_env(idp.issuer))
    echo, echo_port = start_echo(tmp_path)
    try:
        with nginx_server(tmp_path, gateway_url=gw.url, app_port=echo_port) as port, Browser() as b:
            r = b.visit(f"http://app.test:{port}/hello?x=1&y=2")
            print([ (h.status_code, str(h.request.url)) for h in b.history])
            print(r.status_code, r.text[:2000])
            print(gw.proc.log())
            assert r.status_code == 200
    finally:
        gw.proc.stop()
        echo.stop()
