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
