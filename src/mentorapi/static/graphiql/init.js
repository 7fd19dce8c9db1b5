// mentorapi's GraphiQL page: everything it loads comes from this server (no CDN).
// URL parameters pre-fill the editors, so a query can be shared as a link:
//   /graphql?q=...&variables=...&headers={"Authorization":"Bearer mk_..."}
// (`q`, not `query`: GET /graphql?query=... executes the query and answers JSON instead.)
(function () {
  "use strict";

  var DEFAULT_QUERY = [
    "# mentorapi GraphQL. Put your API key in the Headers tab below:",
    '#   {"Authorization": "Bearer mk_..."}',
    "# Run with Ctrl-Enter.",
    "",
    "query Mentors {",
    "  mentors(first: 10) {",
    "    edges {",
    "      node {",
    "        id",
    "        name",
    "        headline",
    "        skills { skill { name } level note }",
    "        stats { sessionsCompleted averageRating }",
    "      }",
    "    }",
    "    pageInfo { hasNextPage endCursor }",
    "  }",
    "}",
    "",
  ].join("\n");

  var parameters = new URLSearchParams(window.location.search);
  var fetchURL = window.location.href.split("?")[0].split("#")[0];

  function updateURL(key, value) {
    if (value) {
      parameters.set(key, value);
    } else {
      parameters.delete(key);
    }
    var search = parameters.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  var httpFetcher = GraphiQL.createFetcher({ url: fetchURL });
  // Subscriptions take the WebSocket at the same address (ws: or wss: as the page is).
  var socketURL = fetchURL.replace(/^http/, "ws");

  function isSubscription(documentAST, operationName) {
    var operations = ((documentAST && documentAST.definitions) || []).filter(function (d) {
      return d.kind === "OperationDefinition";
    });
    var chosen = operations.filter(function (d) {
      return operationName ? d.name && d.name.value === operationName : true;
    });
    return chosen.length === 1 && chosen[0].operation === "subscription";
  }

  // One graphql-transport-ws socket per subscription, its connection_init payload the Headers
  // tab ({"Authorization": "Bearer ..."}: what graphql/context.py reads). Not createFetcher's
  // `subscriptionUrl`: the graphql-ws client bundled with GraphiQL retries a socket closed with
  // 4403 (a refused key) five times over some 40 s, showing nothing meanwhile, and createFetcher
  // passes it no retry option. Here a refusal is shown at once.
  function subscribe(params, headers) {
    return {
      subscribe: function (sink) {
        var socket = new WebSocket(socketURL, "graphql-transport-ws");
        var done = false;
        function finish() {
          done = true;
          if (socket.readyState <= WebSocket.OPEN) {
            socket.close(1000, "Normal Closure");
          }
        }
        function send(message) {
          socket.send(JSON.stringify(message));
        }
        socket.onopen = function () {
          send({ type: "connection_init", payload: headers || {} });
        };
        socket.onmessage = function (event) {
          var message = JSON.parse(event.data);
          if (message.type === "connection_ack") {
            send({ id: "1", type: "subscribe", payload: params });
          } else if (message.type === "ping") {
            send({ type: "pong" });
          } else if (message.type === "next") {
            sink.next(message.payload);
          } else if (message.type === "error") {
            sink.next({ errors: message.payload });
            finish();
            sink.complete();
          } else if (message.type === "complete") {
            finish();
            sink.complete();
          }
        };
        socket.onclose = function (event) {
          if (done) {
            return;
          }
          done = true;
          // The server says why ("UNAUTHENTICATED: the API key is unknown, revoked or
          // expired", "RATE_LIMITED: ... retry in 12 s"); the Headers tab is the fix only
          // for a refused credential (or a reason a proxy left out).
          var reason = event.reason ? " (" + event.reason + ")" : "";
          var credential = !event.reason || event.reason.indexOf("UNAUTHENTICATED") === 0;
          var hint =
            event.code === 4403 && credential
              ? ". Check the Authorization value in the Headers tab."
              : "";
          sink.error(new Error("WebSocket closed with " + event.code + reason + hint));
        };
        return {
          unsubscribe: function () {
            if (!done && socket.readyState === WebSocket.OPEN) {
              send({ id: "1", type: "complete" });
            }
            finish();
          },
        };
      },
    };
  }

  function fetcher(params, options) {
    if (isSubscription(options && options.documentAST, params.operationName)) {
      return subscribe(params, options.headers);
    }
    return httpFetcher(params, options);
  }

  function App() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      query: parameters.get("q") || undefined,
      variables: parameters.get("variables") || undefined,
      headers: parameters.get("headers") || undefined,
      onEditQuery: function (value) {
        updateURL("q", value);
      },
      onEditVariables: function (value) {
        updateURL("variables", value);
      },
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
