/** A policy with one outright deny (`shell`) and one approval rule (`send`), in namespace payments. */
export const SENDS_POLICY = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: sends, namespace: payments}
spec:
  rules:
    - id: shell
      when: {tool.name: shell}
      action: deny
    - id: send
      when: {tool.name: send_email}
      require: {approval: human}
`;

/** Egress to support's hosts: `blocked.example.com` denied outright, `pay.example.com` waiting for a human approval. */
export const OUTBOUND_POLICY = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: outbound, namespace: support}
spec:
  rules:
    - id: no-blocked
      when: {destination.host: blocked.example.com}
      action: deny
    - id: pay-needs-approval
      when: {destination.host: pay.example.com}
      require: {approval: human}
`;
